/*
 * The main class of a Trino server started from trino-main's jars. Trino's own launcher (a
 * Python script and the trino-server-main module) ships only in the 1.5 GB server archive; this
 * is all that module's main does. deploy/services/trino.ts runs it with Java's source launcher
 * (`java TrinoLauncher.java <version>`), so nothing is compiled ahead.
 */
public final class TrinoLauncher {
  public static void main(String[] args) {
    new io.trino.server.Server().start(args.length > 0 ? args[0] : "unknown");
  }
}
