"""captionflow's caption model trainer: JAX/Flax/Optax training and ONNX export."""

__version__ = "0.1.0"
