package dev.captionflow.trino.mongodb;

import io.trino.spi.type.BigintType;
import io.trino.spi.type.BooleanType;
import io.trino.spi.type.DoubleType;
import io.trino.spi.type.IntegerType;
import io.trino.spi.type.Type;
import io.trino.spi.type.VarcharType;

import java.util.Set;

/**
 * The column types a declared schema may name, and their Trino types. Nested documents and
 * arrays are read as {@code json} (Trino's JSON type: use json_extract_scalar and friends).
 */
final class ColumnTypes
{
    static final Set<String> NAMES = Set.of("varchar", "bigint", "integer", "double", "boolean", "json");

    private final Type json;

    ColumnTypes(Type json)
    {
        this.json = json;
    }

    Type type(String name)
    {
        return switch (name) {
            case "varchar" -> VarcharType.VARCHAR;
            case "bigint" -> BigintType.BIGINT;
            case "integer" -> IntegerType.INTEGER;
            case "double" -> DoubleType.DOUBLE;
            case "boolean" -> BooleanType.BOOLEAN;
            case "json" -> json;
            default -> throw new IllegalArgumentException("unsupported column type " + name + ", expected one of " + NAMES);
        };
    }
}
