using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace StateTree.Checkpoint;

/// <summary>One tensor to write: its name, dtype, shape and byte length.</summary>
internal sealed record HeaderEntry(string Name, Dtype Dtype, long[] Shape, long ByteLength)
{
    /// <summary>The UTF-8 bytes of the name: the writer orders ties by them, as the reference does.</summary>
    public byte[] NameUtf8 { get; } = HeaderJson.StrictUtf8.GetBytes(Name);
}

/// <summary>A parsed and validated header.</summary>
internal sealed record ParsedHeader(
    SortedDictionary<string, string>? Metadata,
    IReadOnlyList<TensorInfo> Tensors,
    long HeaderLength,
    long DataStart);

/// <summary>
/// The safetensors header, written byte for byte as the reference implementation writes it and read as
/// strictly as the reference reads it.
/// </summary>
internal static class HeaderJson
{
    /// <summary>The reference's header size limit.</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>The most dimensions a tensor may have here (the reference has no limit; a shape may not drive a huge allocation).</summary>
    public const int MaxRank = 1024;

    /// <summary>UTF-8 that throws on lone surrogates instead of replacing them.</summary>
    public static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>The reference's order: dtype by descending alignment, then name by UTF-8 bytes.</summary>
    public static int CompareForWriting(HeaderEntry a, HeaderEntry b)
    {
        var c = b.Dtype.Order.CompareTo(a.Dtype.Order);
        return c != 0 ? c : a.NameUtf8.AsSpan().SequenceCompareTo(b.NameUtf8);
    }

    /// <summary>
    /// The 8-byte length prefix and the padded header for entries already in writing order; gives each
    /// entry's offsets. Throws <see cref="SafetensorsException"/> (HeaderTooLarge) past the limit.
    /// </summary>
    public static byte[] Write(IReadOnlyList<HeaderEntry> entries, IEnumerable<KeyValuePair<string, string>>? metadata)
    {
        var w = new ArrayBufferWriter<byte>(256 + entries.Count * 96);
        Put(w, 0, 8); // the length prefix, filled in below
        Put(w, (byte)'{');
        var first = true;
        if (metadata is not null)
        {
            var sorted = metadata.ToList();
            if (sorted.Count > 0)
            {
                sorted.Sort((x, y) => string.CompareOrdinal(x.Key, y.Key));
                WriteString(w, "__metadata__");
                Put(w, (byte)':');
                Put(w, (byte)'{');
                for (var i = 0; i < sorted.Count; i++)
                {
                    if (i > 0)
                        Put(w, (byte)',');
                    WriteString(w, sorted[i].Key);
                    Put(w, (byte)':');
                    WriteString(w, sorted[i].Value);
                }

                Put(w, (byte)'}');
                first = false;
            }
        }

        long offset = 0;
        foreach (var e in entries)
        {
            if (!first)
                Put(w, (byte)',');
            first = false;
            WriteString(w, e.Name);
            PutAscii(w, ":{\"dtype\":");
            WriteString(w, e.Dtype.Name);
            PutAscii(w, ",\"shape\":[");
            for (var i = 0; i < e.Shape.Length; i++)
            {
                if (i > 0)
                    Put(w, (byte)',');
                PutAscii(w, e.Shape[i].ToString(CultureInfo.InvariantCulture));
            }

            PutAscii(w, "],\"data_offsets\":[");
            PutAscii(w, offset.ToString(CultureInfo.InvariantCulture));
            Put(w, (byte)',');
            offset = checked(offset + e.ByteLength);
            PutAscii(w, offset.ToString(CultureInfo.InvariantCulture));
            PutAscii(w, "]}");
        }

        Put(w, (byte)'}');
        var length = w.WrittenCount - 8;
        var padded = (length + 7) / 8 * 8;
        if (padded > MaxHeaderLength)
            throw new SafetensorsException(
                SafetensorsError.HeaderTooLarge,
                $"The header would take {padded} bytes, more than the limit of {MaxHeaderLength}.");
        for (var i = length; i < padded; i++)
            Put(w, (byte)' ');
        var bytes = w.WrittenSpan.ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        return bytes;
    }

    private static void Put(ArrayBufferWriter<byte> w, byte b)
    {
        w.GetSpan(1)[0] = b;
        w.Advance(1);
    }

    private static void Put(ArrayBufferWriter<byte> w, byte b, int count)
    {
        w.GetSpan(count)[..count].Fill(b);
        w.Advance(count);
    }

    private static void PutAscii(ArrayBufferWriter<byte> w, string s)
    {
        var span = w.GetSpan(s.Length);
        for (var i = 0; i < s.Length; i++)
            span[i] = (byte)s[i];
        w.Advance(s.Length);
    }

    /// <summary>A JSON string as serde_json writes it: UTF-8, escaping only <c>"</c>, <c>\</c> and control characters.</summary>
    private static void WriteString(ArrayBufferWriter<byte> w, string s)
    {
        Put(w, (byte)'"');
        var utf8 = StrictUtf8.GetBytes(s);
        var start = 0;
        for (var i = 0; i < utf8.Length; i++)
        {
            var b = utf8[i];
            string? escape = b switch
            {
                (byte)'"' => "\\\"",
                (byte)'\\' => "\\\\",
                0x08 => "\\b",
                0x09 => "\\t",
                0x0A => "\\n",
                0x0C => "\\f",
                0x0D => "\\r",
                < 0x20 => "\\u00" + b.ToString("x2", CultureInfo.InvariantCulture),
                _ => null,
            };
            if (escape is null)
                continue;
            w.Write(utf8.AsSpan(start, i - start));
            PutAscii(w, escape);
            start = i + 1;
        }

        w.Write(utf8.AsSpan(start));
        Put(w, (byte)'"');
    }

    // ---- reading ---------------------------------------------------------------------------

    /// <summary>Reads and validates the header of a file of <paramref name="source"/>'s length.</summary>
    public static ParsedHeader Read(ByteSource source)
    {
        var fileLength = source.Length;
        if (fileLength < 8)
            throw new SafetensorsException(SafetensorsError.HeaderTooSmall, $"The file has {fileLength} bytes, fewer than the 8 of the header length.");
        Span<byte> prefix = stackalloc byte[8];
        source.Read(0, prefix);
        var n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > MaxHeaderLength)
            throw new SafetensorsException(SafetensorsError.HeaderTooLarge, $"The header length {n} is above the limit of {MaxHeaderLength} bytes.");
        var headerLength = (long)n;
        if (headerLength > fileLength - 8)
            throw new SafetensorsException(
                SafetensorsError.InvalidHeaderLength,
                $"The header length {headerLength} goes past the end of the file ({fileLength} bytes).");
        var header = new byte[headerLength];
        source.Read(8, header);
        return Parse(header, fileLength);
    }

    /// <summary>Parses and validates header bytes (without the length prefix) of a file of the given length.</summary>
    public static ParsedHeader Parse(byte[] header, long fileLength)
    {
        if (!Utf8.IsValid(header))
            throw new SafetensorsException(SafetensorsError.InvalidHeader, "The header is not valid UTF-8.");
        if (header.Length == 0 || header[0] != (byte)'{')
            throw new SafetensorsException(SafetensorsError.InvalidHeaderStart, "The header does not begin with '{'.");

        SortedDictionary<string, string>? metadata = null;
        var tensors = new List<TensorInfo>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        try
        {
            var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 64 });
            reader.Read(); // '{', checked above
            var sawMetadata = false;
            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject)
                    break;
                var name = reader.GetString()!;
                current = name;
                if (name == "__metadata__")
                {
                    if (sawMetadata)
                        throw new SafetensorsException(SafetensorsError.DuplicateName, "The header has two '__metadata__' entries.", name);
                    sawMetadata = true;
                    metadata = ReadMetadata(ref reader);
                }
                else
                {
                    if (!names.Add(name))
                        throw new SafetensorsException(SafetensorsError.DuplicateName, $"The tensor '{name}' appears twice in the header.", name);
                    tensors.Add(ReadTensor(ref reader, name));
                }

                current = null;
            }

            if (reader.Read())
                throw new JsonException("Text follows the header's JSON object.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            var where = current is null ? "" : $" (at '{current}')";
            throw new SafetensorsException(
                SafetensorsError.InvalidHeaderDeserialization,
                $"The header is not valid safetensors JSON{where}: {e.Message}",
                current,
                e);
        }

        // Offset order; zero-length tensors at one offset keep their header order.
        var ordered = tensors.Select((t, i) => (t, i)).OrderBy(p => p.t.Begin).ThenBy(p => p.t.End).ThenBy(p => p.i).Select(p => p.t).ToList();
        long start = 0;
        foreach (var t in ordered)
        {
            if (t.Begin != start || t.End < t.Begin)
                throw new SafetensorsException(
                    SafetensorsError.InvalidOffset,
                    $"The tensor '{t.Name}' has data offsets [{t.Begin}, {t.End}], but the previous tensor ends at {start}.",
                    t.Name);
            start = t.End;
            var dtype = Dtypes.Get(t.Dtype);
            long elements = 1;
            var overflow = false;
            foreach (var d in t.Shape)
            {
                if (elements > 0 && d > long.MaxValue / elements)
                {
                    overflow = true;
                    break;
                }

                elements *= d;
            }

            if (overflow || !SuffixProductsFit(t.Shape))
                throw new SafetensorsException(
                    SafetensorsError.TensorInvalidInfo,
                    $"The shape [{string.Join(",", t.Shape)}] of tensor '{t.Name}' overflows.",
                    t.Name);
            if (Dtypes.ByteLength(dtype, elements) is not { } size)
                throw new SafetensorsException(
                    SafetensorsError.TensorInvalidInfo,
                    $"The tensor '{t.Name}' ({t.Dtype}[{string.Join(",", t.Shape)}]) does not fill a whole number of bytes.",
                    t.Name);
            if (t.End - t.Begin != size)
                throw new SafetensorsException(
                    SafetensorsError.TensorInvalidInfo,
                    $"The tensor '{t.Name}' ({t.Dtype}[{string.Join(",", t.Shape)}]) needs {size} bytes but its offsets [{t.Begin}, {t.End}] hold {t.End - t.Begin}.",
                    t.Name);
        }

        var dataStart = 8 + (long)header.Length;
        if (start > fileLength - dataStart || start != fileLength - dataStart)
            throw new SafetensorsException(
                SafetensorsError.MetadataIncompleteBuffer,
                $"The tensors cover {start} data bytes, but the file holds {fileLength - dataStart} after the header.");
        return new ParsedHeader(metadata, ordered, header.Length, dataStart);
    }

    /// <summary>
    /// True when every product of trailing dimensions fits a long: <c>Tensor&lt;T&gt;</c> computes these
    /// strides even for a tensor with a zero dimension, and would overflow.
    /// </summary>
    private static bool SuffixProductsFit(long[] shape)
    {
        long p = 1;
        for (var i = shape.Length - 1; i > 0; i--)
        {
            var d = shape[i];
            if (d == 0)
                continue;
            if (d > long.MaxValue / p)
                return false;
            p *= d;
        }

        return true;
    }

    private static void Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
            throw new JsonException("The JSON ends too early.");
    }

    private static SortedDictionary<string, string>? ReadMetadata(ref Utf8JsonReader reader)
    {
        Next(ref reader);
        if (reader.TokenType == JsonTokenType.Null)
            return null;
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new JsonException("'__metadata__' must be an object of strings.");
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndObject)
                return map;
            var key = reader.GetString()!;
            Next(ref reader);
            if (reader.TokenType != JsonTokenType.String)
                throw new JsonException($"The '__metadata__' entry '{key}' is not a string.");
            if (!map.TryAdd(key, reader.GetString()!))
                throw new JsonException($"The '__metadata__' entry '{key}' appears twice.");
        }
    }

    private static TensorInfo ReadTensor(ref Utf8JsonReader reader, string name)
    {
        Next(ref reader);
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new JsonException($"The entry of tensor '{name}' is not an object.");
        string? dtype = null;
        List<long>? shape = null;
        long[]? offsets = null;
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndObject)
                break;
            var field = reader.GetString()!;
            switch (field)
            {
                case "dtype":
                    if (dtype is not null)
                        throw new JsonException($"The tensor '{name}' has two 'dtype' fields.");
                    Next(ref reader);
                    if (reader.TokenType != JsonTokenType.String)
                        throw new JsonException($"The dtype of tensor '{name}' is not a string.");
                    dtype = reader.GetString()!;
                    break;
                case "shape":
                    if (shape is not null)
                        throw new JsonException($"The tensor '{name}' has two 'shape' fields.");
                    shape = ReadNumbers(ref reader, name, "shape", SafetensorsError.TensorInvalidInfo);
                    break;
                case "data_offsets":
                    if (offsets is not null)
                        throw new JsonException($"The tensor '{name}' has two 'data_offsets' fields.");
                    var o = ReadNumbers(ref reader, name, "data_offsets", SafetensorsError.InvalidOffset);
                    if (o.Count != 2)
                        throw new JsonException($"The data_offsets of tensor '{name}' must be two numbers.");
                    offsets = [o[0], o[1]];
                    break;
                default:
                    // The reference ignores fields it does not know.
                    Next(ref reader);
                    reader.Skip();
                    break;
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            var missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw new JsonException($"The tensor '{name}' has no '{missing}' field.");
        }

        if (!Dtypes.TryGet(dtype, out _))
            throw new SafetensorsException(SafetensorsError.UnsupportedDtype, $"The tensor '{name}' has the unknown dtype '{dtype}'.", name);
        return new TensorInfo(name, dtype, shape.ToArray(), offsets[0], offsets[1]);
    }

    private static List<long> ReadNumbers(ref Utf8JsonReader reader, string name, string field, SafetensorsError tooLarge)
    {
        Next(ref reader);
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new JsonException($"The {field} of tensor '{name}' is not an array.");
        var list = new List<long>();
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndArray)
                return list;
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out var v) || !IsPlainInteger(reader.ValueSpan))
                throw new JsonException($"The {field} of tensor '{name}' holds something other than a non-negative integer.");
            if (v > long.MaxValue)
                throw new SafetensorsException(tooLarge, $"The {field} of tensor '{name}' holds {v}, which is too large.", name);
            if (list.Count == MaxRank)
                throw new SafetensorsException(
                    SafetensorsError.TensorInvalidInfo,
                    $"The {field} of tensor '{name}' has more than {MaxRank} entries.",
                    name);
            list.Add((long)v);
        }
    }

    /// <summary>serde reads a usize only from digits: no fraction, no exponent.</summary>
    private static bool IsPlainInteger(ReadOnlySpan<byte> text)
    {
        foreach (var b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
                return false;
        }

        return true;
    }
}
