package dev.captionflow.trino.mongodb;

import com.mongodb.client.MongoClient;
import io.trino.spi.connector.ColumnHandle;
import io.trino.spi.connector.Connector;
import io.trino.spi.connector.ConnectorSplit;
import io.trino.spi.connector.ConnectorSplitSource;
import io.trino.spi.connector.ConnectorTableHandle;
import io.trino.spi.connector.Constraint;
import io.trino.spi.connector.DynamicFilter;
import io.trino.spi.connector.RecordSet;
import io.trino.spi.connector.ConnectorMetadata;
import io.trino.spi.connector.ConnectorRecordSetProvider;
import io.trino.spi.connector.ConnectorSession;
import io.trino.spi.connector.ConnectorSplitManager;
import io.trino.spi.connector.ConnectorTransactionHandle;
import io.trino.spi.connector.FixedSplitSource;
import io.trino.spi.transaction.IsolationLevel;

import java.util.List;

/** One catalog: its MongoDB client, declared schema and column types. Reads only. */
final class MongoConnector
        implements Connector
{
    private final MongoClient client;
    private final MongoMetadata metadata;
    private final ColumnTypes types;

    MongoConnector(MongoClient client, DeclaredSchema schema, ColumnTypes types)
    {
        this.client = client;
        this.types = types;
        this.metadata = new MongoMetadata(client, schema, types);
    }

    @Override
    public ConnectorTransactionHandle beginTransaction(IsolationLevel isolationLevel, boolean readOnly, boolean autoCommit)
    {
        return MongoTransactionHandle.INSTANCE;
    }

    @Override
    public ConnectorMetadata getMetadata(ConnectorSession session, ConnectorTransactionHandle transaction)
    {
        return metadata;
    }

    @Override
    public ConnectorSplitManager getSplitManager()
    {
        // Default methods only in the SPI, so no lambda.
        return new ConnectorSplitManager()
        {
            @Override
            public ConnectorSplitSource getSplits(ConnectorTransactionHandle transaction, ConnectorSession session, ConnectorTableHandle table, DynamicFilter dynamicFilter, Constraint constraint)
            {
                MongoTableHandle handle = (MongoTableHandle) table;
                return new FixedSplitSource(new MongoSplit(handle.database(), handle.collection()));
            }
        };
    }

    @Override
    public ConnectorRecordSetProvider getRecordSetProvider()
    {
        return new ConnectorRecordSetProvider()
        {
            @Override
            public RecordSet getRecordSet(ConnectorTransactionHandle transaction, ConnectorSession session, ConnectorSplit split, ConnectorTableHandle table, List<? extends ColumnHandle> columns)
            {
                return new MongoRecordSet(client, (MongoTableHandle) table, columns.stream().map(MongoColumnHandle.class::cast).toList(), types);
            }
        };
    }

    @Override
    public void shutdown()
    {
        client.close();
    }
}
