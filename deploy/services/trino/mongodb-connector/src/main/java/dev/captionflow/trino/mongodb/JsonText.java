package dev.captionflow.trino.mongodb;

import org.bson.types.Binary;
import org.bson.types.Decimal128;
import org.bson.types.ObjectId;

import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.Map;

/**
 * Compact JSON of a decoded BSON value, for {@code json} columns. Our own because the driver's
 * {@code Document.toJson} writes extended JSON ({@code {"$numberLong": …}}, {@code {"$oid": …}})
 * that SQL's json functions would have to unwrap; here an ObjectId is its hex string, a date its
 * ISO-8601 instant, a number a plain JSON number.
 */
final class JsonText
{
    private JsonText() {}

    static String of(Object value)
    {
        StringBuilder out = new StringBuilder();
        write(out, value);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value)
    {
        switch (value) {
            case null -> out.append("null");
            case String s -> quote(out, s);
            case Boolean b -> out.append(b);
            case Integer i -> out.append(i);
            case Long l -> out.append(l);
            case Double d -> number(out, d);
            case Float f -> number(out, f.doubleValue());
            case Decimal128 d -> out.append(d.bigDecimalValue().toPlainString());
            case ObjectId id -> quote(out, id.toHexString());
            case Date d -> quote(out, d.toInstant().toString());
            case Binary b -> quote(out, Base64.getEncoder().encodeToString(b.getData()));
            case Map<?, ?> map -> {
                out.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    quote(out, String.valueOf(e.getKey()));
                    out.append(':');
                    write(out, e.getValue());
                }
                out.append('}');
            }
            case Collection<?> list -> {
                out.append('[');
                boolean first = true;
                for (Object item : list) {
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    write(out, item);
                }
                out.append(']');
            }
            default -> quote(out, value.toString());
        }
    }

    private static void number(StringBuilder out, double d)
    {
        if (!Double.isFinite(d)) {
            out.append("null");
        }
        else if (d == Math.rint(d) && Math.abs(d) < 0x1p53) {
            // 10, not 10.0: what the JavaScript writer meant.
            out.append((long) d);
        }
        else {
            out.append(d);
        }
    }

    private static void quote(StringBuilder out, String s)
    {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append("\\u%04x".formatted((int) c));
                    }
                    else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
