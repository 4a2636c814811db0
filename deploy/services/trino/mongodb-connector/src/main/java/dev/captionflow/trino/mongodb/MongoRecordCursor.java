package dev.captionflow.trino.mongodb;

import com.mongodb.client.MongoCollection;
import com.mongodb.client.MongoCursor;
import io.airlift.slice.Slice;
import io.airlift.slice.Slices;
import io.trino.spi.TrinoException;
import io.trino.spi.connector.RecordCursor;
import io.trino.spi.type.Type;
import org.bson.Document;
import org.bson.types.Decimal128;
import org.bson.types.ObjectId;

import java.util.List;

import static io.trino.spi.StandardErrorCode.TYPE_MISMATCH;

/**
 * Rows of a plain {@code find()} with a projection (FerretDB 1.24 serves it; no aggregation
 * needed). A value that does not fit its declared type fails the query with the collection, field
 * and document named, rather than turning into a silent NULL.
 */
final class MongoRecordCursor
        implements RecordCursor
{
    private final MongoTableHandle table;
    private final List<MongoColumnHandle> columns;
    private final List<Type> types;
    private final MongoCursor<Document> cursor;
    private Document current;
    private long readTimeNanos;

    MongoRecordCursor(MongoCollection<Document> collection, MongoTableHandle table, List<MongoColumnHandle> columns, List<Type> types)
    {
        this.table = table;
        this.columns = columns;
        this.types = types;
        Document projection = new Document("_id", 1);
        for (MongoColumnHandle column : columns) {
            projection.put(column.field(), 1);
        }
        Document filter = new Document();
        table.equalities().forEach((field, value) -> filter.put(field, ObjectId.isValid(value) ? new Document("$in", List.of(value, new ObjectId(value))) : value));
        long start = System.nanoTime();
        this.cursor = collection.find(filter).projection(projection).iterator();
        readTimeNanos += System.nanoTime() - start;
    }

    @Override
    public long getCompletedBytes()
    {
        return 0;
    }

    @Override
    public long getReadTimeNanos()
    {
        return readTimeNanos;
    }

    @Override
    public Type getType(int field)
    {
        return types.get(field);
    }

    @Override
    public boolean advanceNextPosition()
    {
        long start = System.nanoTime();
        try {
            if (!cursor.hasNext()) {
                current = null;
                return false;
            }
            current = cursor.next();
            return true;
        }
        finally {
            readTimeNanos += System.nanoTime() - start;
        }
    }

    private Object value(int field)
    {
        return current.get(columns.get(field).field());
    }

    @Override
    public boolean isNull(int field)
    {
        return value(field) == null;
    }

    @Override
    public boolean getBoolean(int field)
    {
        if (value(field) instanceof Boolean b) {
            return b;
        }
        throw mismatch(field);
    }

    @Override
    public long getLong(int field)
    {
        Object v = value(field);
        long n;
        if (v instanceof Integer || v instanceof Long) {
            n = ((Number) v).longValue();
        }
        // JavaScript writers store whole numbers as doubles now and then.
        else if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 0x1p53) {
            n = d.longValue();
        }
        else {
            throw mismatch(field);
        }
        if (columns.get(field).type().equals("integer") && (n < Integer.MIN_VALUE || n > Integer.MAX_VALUE)) {
            throw mismatch(field);
        }
        return n;
    }

    @Override
    public double getDouble(int field)
    {
        Object v = value(field);
        if (v instanceof Decimal128 d) {
            return d.doubleValue();
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw mismatch(field);
    }

    @Override
    public Slice getSlice(int field)
    {
        Object v = value(field);
        if (columns.get(field).type().equals("json")) {
            return Slices.utf8Slice(JsonText.of(v));
        }
        // Strings and ObjectIds only: what the pushed-down equality matches (see MongoMetadata.applyFilter).
        return switch (v) {
            case String s -> Slices.utf8Slice(s);
            case ObjectId id -> Slices.utf8Slice(id.toHexString());
            default -> throw mismatch(field);
        };
    }

    @Override
    public Object getObject(int field)
    {
        throw new UnsupportedOperationException("no structural columns: nested values are json");
    }

    @Override
    public void close()
    {
        cursor.close();
    }

    private TrinoException mismatch(int field)
    {
        MongoColumnHandle column = columns.get(field);
        Object v = value(field);
        return new TrinoException(TYPE_MISMATCH, "mongodb %s: field %s of document _id=%s holds %s %s, declared %s".formatted(
                table, column.field(), JsonText.of(current.get("_id")), v == null ? "null" : v.getClass().getSimpleName(), JsonText.of(v), column.type()));
    }
}
