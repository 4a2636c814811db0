package dev.captionflow.trino.mongodb;

import com.mongodb.client.MongoClient;
import io.trino.spi.connector.RecordCursor;
import io.trino.spi.connector.RecordSet;
import io.trino.spi.type.Type;

import java.util.List;

/** A scan of one collection, projected to the columns the query reads. */
final class MongoRecordSet
        implements RecordSet
{
    private final MongoClient client;
    private final MongoTableHandle table;
    private final List<MongoColumnHandle> columns;
    private final List<Type> types;

    MongoRecordSet(MongoClient client, MongoTableHandle table, List<MongoColumnHandle> columns, ColumnTypes types)
    {
        this.client = client;
        this.table = table;
        this.columns = columns;
        this.types = columns.stream().map(c -> types.type(c.type())).toList();
    }

    @Override
    public List<Type> getColumnTypes()
    {
        return types;
    }

    @Override
    public RecordCursor cursor()
    {
        return new MongoRecordCursor(client.getDatabase(table.database()).getCollection(table.collection()), table, columns, types);
    }
}
