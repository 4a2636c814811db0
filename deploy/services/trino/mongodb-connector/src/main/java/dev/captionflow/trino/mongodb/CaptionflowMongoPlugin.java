package dev.captionflow.trino.mongodb;

import io.trino.spi.Plugin;
import io.trino.spi.connector.ConnectorFactory;

import java.util.List;

/**
 * captionflow's read-only MongoDB connector for Trino, registered as {@code captionflow_mongodb}.
 * Found by Trino through META-INF/services/io.trino.spi.Plugin in the plugin folder.
 */
public final class CaptionflowMongoPlugin
        implements Plugin
{
    @Override
    public Iterable<ConnectorFactory> getConnectorFactories()
    {
        return List.of(new MongoConnectorFactory());
    }
}
