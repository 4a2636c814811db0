package dev.captionflow.trino.mongodb;

import io.trino.spi.connector.ConnectorTransactionHandle;

/** Read-only: every query reads the collections as they are when it scans them. */
public enum MongoTransactionHandle
        implements ConnectorTransactionHandle
{
    INSTANCE
}
