package dev.captionflow.trino.mongodb;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.trino.spi.connector.ColumnHandle;
import io.trino.spi.connector.ColumnMetadata;

import static java.util.Objects.requireNonNull;

/** A column: the document's top-level field (exact case) and its declared type's name. */
public record MongoColumnHandle(
        @JsonProperty("field") String field,
        @JsonProperty("type") String type,
        @JsonProperty("hidden") boolean hidden)
        implements ColumnHandle
{
    @JsonCreator
    public MongoColumnHandle
    {
        requireNonNull(field, "field is null");
        requireNonNull(type, "type is null");
    }

    ColumnMetadata metadata(ColumnTypes types)
    {
        return ColumnMetadata.builder()
                .setName(field)
                .setType(types.type(type))
                .setNullable(true)
                .setHidden(hidden)
                .build();
    }

    @Override
    public String toString()
    {
        return field + ":" + type;
    }
}
