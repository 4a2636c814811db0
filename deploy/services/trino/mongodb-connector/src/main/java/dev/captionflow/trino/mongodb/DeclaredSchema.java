package dev.captionflow.trino.mongodb;

import org.bson.BsonArray;
import org.bson.BsonDocument;
import org.bson.BsonValue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The tables and their columns, declared in a JSON file rather than sampled from documents: a
 * sampled schema changes with the data (a field that is null in the first documents gets no
 * type), a declared one is reviewed with the code that writes the documents.
 *
 * <p>The file is a JSON array of documents in the shape of the official Trino MongoDB connector's
 * {@code _trino_schema} collection — {@code {"table": "images", "fields": [{"name": "_id",
 * "type": "varchar", "hidden": false}, …]}} — so the same file can be loaded into that collection
 * for a stock Trino. A table is offered in every database whose collection of that name exists.
 */
record DeclaredSchema(Map<String, List<Column>> tables)
{
    /** One declared column: the document's top-level field and the name of its type. */
    record Column(String field, String type, boolean hidden) {}

    static DeclaredSchema load(Path file)
    {
        String text;
        try {
            text = Files.readString(file);
        }
        catch (IOException e) {
            throw new UncheckedIOException("declared schema " + file + " cannot be read", e);
        }
        Map<String, List<Column>> tables = new LinkedHashMap<>();
        BsonArray entries;
        try {
            entries = BsonArray.parse(text);
        }
        catch (RuntimeException e) {
            throw new IllegalArgumentException("declared schema " + file + " is not a JSON array: " + e.getMessage(), e);
        }
        for (BsonValue entry : entries) {
            BsonDocument doc = entry.asDocument();
            String table = doc.getString("table").getValue();
            List<Column> columns = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (BsonValue f : doc.getArray("fields")) {
                BsonDocument field = f.asDocument();
                String name = field.getString("name").getValue();
                String type = field.getString("type").getValue().toLowerCase(Locale.ENGLISH);
                boolean hidden = field.getBoolean("hidden", org.bson.BsonBoolean.FALSE).getValue();
                if (!ColumnTypes.NAMES.contains(type)) {
                    throw new IllegalArgumentException("declared schema %s: %s.%s has type %s, expected one of %s".formatted(file, table, name, type, ColumnTypes.NAMES));
                }
                if (!seen.add(name.toLowerCase(Locale.ENGLISH))) {
                    throw new IllegalArgumentException("declared schema %s: %s.%s is declared twice (names are case-insensitive)".formatted(file, table, name));
                }
                columns.add(new Column(name, type, hidden));
            }
            if (tables.keySet().stream().anyMatch(t -> t.equalsIgnoreCase(table))) {
                throw new IllegalArgumentException("declared schema %s: table %s is declared twice".formatted(file, table));
            }
            tables.put(table, List.copyOf(columns));
        }
        return new DeclaredSchema(Map.copyOf(tables));
    }

    /** The declared columns of a collection (its exact name), if it is declared. */
    Optional<List<Column>> columns(String collection)
    {
        return Optional.ofNullable(tables.get(collection));
    }
}
