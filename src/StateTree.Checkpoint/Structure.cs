using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace StateTree.Checkpoint;

/// <summary>What the structure record says about one tensor: how to rebuild its leaf.</summary>
/// <param name="Type">The Variable type's record name (see <see cref="Structure.TypeName"/>), or null for a raw leaf.</param>
/// <param name="Metadata">The Variable's metadata (empty for raw leaves).</param>
/// <param name="Kind">The representation, or null for the default one.</param>
internal sealed record LeafSpec(string? Type, IReadOnlyDictionary<string, object?> Metadata, TensorLeaf.Kind? Kind)
{
    /// <summary>A raw leaf in the default representation.</summary>
    public static readonly LeafSpec Default = new(null, new Dictionary<string, object?>(), null);

    /// <summary>True when a foreign reader would rebuild the same leaf without the record.</summary>
    public bool IsDefault => Type is null && Kind is null;
}

/// <summary>
/// The StateTree structure record: the <c>__metadata__</c> entry <c>"statetree.structure"</c>, a JSON text
/// <c>{"version":1,"leaves":{name:{"type":…,"metadata":{…},"kind":…}},"empty":[name,…]}</c>. Paths need no
/// record: tensor names encode them exactly (<see cref="TensorNames"/>).
/// </summary>
/// <remarks>
/// <c>type</c> is a built-in's short name (<c>"Param"</c>) or <c>"Namespace.Type, Assembly"</c>; absent for a
/// raw leaf. <c>kind</c> is absent for the default representation (a <c>Tensor&lt;T&gt;</c>, a scalar for shape
/// <c>[]</c>, a <see cref="RawTensor"/> for dtypes without a .NET type), else <c>"tensor"</c>, <c>"array"</c>,
/// <c>"scalar"</c> or <c>"raw"</c>. Metadata values: JSON null, strings and booleans as themselves, every other
/// value as <c>[code, text]</c> (<c>["f32","0.1"]</c>) and arrays as <c>[code + "[]", [text, …]]</c>, so that
/// each value comes back with its .NET type.
/// </remarks>
internal static class Structure
{
    public const string Key = "statetree.structure";

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly (Type Type, string Name, Func<object?, IReadOnlyDictionary<string, object?>, Variable> Create)[] BuiltIns =
    [
        (typeof(Variable), "Variable", (v, m) => new Variable(v, m)),
        (typeof(Param), "Param", (v, m) => new Param(v, m)),
        (typeof(BatchStat), "BatchStat", (v, m) => new BatchStat(v, m)),
        (typeof(Cache), "Cache", (v, m) => new Cache(v, m)),
        (typeof(Intermediate), "Intermediate", (v, m) => new Intermediate(v, m)),
        (typeof(Perturbation), "Perturbation", (v, m) => new Perturbation(v, m)),
        (typeof(RngState), "RngState", (v, m) => new RngState(v, m)),
        (typeof(RngKey), "RngKey", (v, m) => new RngKey(v, m)),
        (typeof(RngCount), "RngCount", (v, m) => new RngCount(v, m)),
        (typeof(OptState), "OptState", (v, m) => new OptState(v, m)),
    ];

    private static readonly ConcurrentDictionary<string, Func<object?, IReadOnlyDictionary<string, object?>, Variable>?> Factories =
        new(BuiltIns.ToDictionary(b => b.Name, b => (Func<object?, IReadOnlyDictionary<string, object?>, Variable>?)b.Create, StringComparer.Ordinal));

    private static readonly (Type Type, string Code)[] Codes =
    [
        (typeof(sbyte), "i8"), (typeof(byte), "u8"), (typeof(short), "i16"), (typeof(ushort), "u16"),
        (typeof(int), "i32"), (typeof(uint), "u32"), (typeof(long), "i64"), (typeof(ulong), "u64"),
        (typeof(Half), "f16"), (typeof(BFloat16), "bf16"), (typeof(float), "f32"), (typeof(double), "f64"),
        (typeof(decimal), "decimal"), (typeof(char), "char"), (typeof(string), "string"), (typeof(bool), "bool"),
    ];

    private static readonly Dictionary<Type, string> CodeOf = Codes.ToDictionary(c => c.Type, c => c.Code);
    private static readonly Dictionary<string, Type> TypeOfCode = Codes.ToDictionary(c => c.Code, c => c.Type, StringComparer.Ordinal);

    /// <summary>The record name of a Variable type: a built-in's short name, else <c>"Namespace.Type, Assembly"</c>.</summary>
    public static string TypeName(Type type)
    {
        foreach (var b in BuiltIns)
        {
            if (b.Type == type)
                return b.Name;
        }

        return $"{type.FullName}, {type.Assembly.GetName().Name}";
    }

    /// <summary>The default representation of a dtype and shape.</summary>
    public static TensorLeaf.Kind DefaultKind(Dtype dtype, long[] shape) =>
        dtype.ElementType is null ? TensorLeaf.Kind.Raw : shape.Length == 0 ? TensorLeaf.Kind.Scalar : TensorLeaf.Kind.Tensor;

    /// <summary>
    /// Checks that a metadata value can be recorded; returns a description of the problem, or null.
    /// </summary>
    public static string? CheckMetadataValue(object? value)
    {
        if (value is null || CodeOf.ContainsKey(value.GetType()))
            return value is string s && !IsValidUtf16(s) ? "a string with an unpaired surrogate" : null;
        if (value is Array a && a.GetType().IsSZArray && CodeOf.ContainsKey(a.GetType().GetElementType()!))
        {
            if (a is string?[] strings && strings.Any(x => x is not null && !IsValidUtf16(x)))
                return "a string with an unpaired surrogate";
            return null;
        }

        return $"a {value.GetType()}, which the structure record cannot store (use numbers, strings, booleans, null, or one-dimensional arrays of them)";
    }

    /// <summary>True when the string has no unpaired surrogate (so that UTF-8 keeps it exactly).</summary>
    public static bool IsValidUtf16(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]))
            {
                if (i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                {
                    i++;
                    continue;
                }

                return false;
            }

            if (char.IsLowSurrogate(s[i]))
                return false;
        }

        return true;
    }

    /// <summary>The record's JSON text. Leaves listed are the non-default ones.</summary>
    public static string Write(IEnumerable<(string Name, LeafSpec Spec)> leaves, IEnumerable<string> empty)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("version", 1);
            w.WriteStartObject("leaves");
            foreach (var (name, spec) in leaves.OrderBy(l => l.Name, StringComparer.Ordinal))
            {
                w.WriteStartObject(name);
                if (spec.Type is not null)
                    w.WriteString("type", spec.Type);
                if (spec.Metadata.Count > 0)
                {
                    w.WriteStartObject("metadata");
                    foreach (var (k, v) in spec.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                    {
                        w.WritePropertyName(k);
                        WriteValue(w, v);
                    }

                    w.WriteEndObject();
                }

                if (spec.Kind is { } kind)
                    w.WriteString("kind", kind.ToString().ToLowerInvariant());
                w.WriteEndObject();
            }

            w.WriteEndObject();
            var emptyList = empty.OrderBy(e => e, StringComparer.Ordinal).ToList();
            if (emptyList.Count > 0)
            {
                w.WriteStartArray("empty");
                foreach (var e in emptyList)
                    w.WriteStringValue(e);
                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null:
                w.WriteNullValue();
                return;
            case string s:
                w.WriteStringValue(s);
                return;
            case bool b:
                w.WriteBooleanValue(b);
                return;
            case Array a:
                w.WriteStartArray();
                w.WriteStringValue(CodeOf[a.GetType().GetElementType()!] + "[]");
                w.WriteStartArray();
                foreach (var item in a)
                {
                    if (item is null)
                        w.WriteNullValue();
                    else
                        w.WriteStringValue(Text(item));
                }

                w.WriteEndArray();
                w.WriteEndArray();
                return;
            default:
                w.WriteStartArray();
                w.WriteStringValue(CodeOf[value.GetType()]);
                w.WriteStringValue(Text(value));
                w.WriteEndArray();
                return;
        }
    }

    private static string Text(object value) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        char c => ((int)c).ToString(CultureInfo.InvariantCulture),
        BFloat16 bf => bf.RawBits.ToString(CultureInfo.InvariantCulture),
        double d => BitConverter.DoubleToInt64Bits(d).ToString(CultureInfo.InvariantCulture),
        float f => BitConverter.SingleToInt32Bits(f).ToString(CultureInfo.InvariantCulture),
        Half h => BitConverter.HalfToInt16Bits(h).ToString(CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => throw new InvalidOperationException($"No text for {value.GetType()}."),
    };

    private static object Parse(string code, string text) => code switch
    {
        "i8" => sbyte.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
        "u8" => byte.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture),
        "i16" => short.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
        "u16" => ushort.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture),
        "i32" => int.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
        "u32" => uint.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture),
        "i64" => long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
        "u64" => ulong.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture),
        "f16" => BitConverter.Int16BitsToHalf(short.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)),
        "bf16" => BFloat16.FromRawBits(ushort.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture)),
        "f32" => BitConverter.Int32BitsToSingle(int.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)),
        "f64" => BitConverter.Int64BitsToDouble(long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)),
        "decimal" => decimal.Parse(text, NumberStyles.Number, CultureInfo.InvariantCulture),
        "char" => (char)ushort.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture),
        "string" => text,
        "bool" => text switch
        {
            "true" => true,
            "false" => false,
            _ => throw new FormatException($"'{text}' is not a boolean."),
        },
        _ => throw new FormatException($"Unknown value code '{code}'."),
    };

    /// <summary>The parsed record.</summary>
    internal sealed record Record(Dictionary<string, LeafSpec> Leaves, List<string> Empty);

    /// <summary>Parses the record; throws <see cref="SafetensorsException"/> (InvalidHeaderDeserialization) when it is malformed.</summary>
    public static Record Read(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new FormatException("the record is not a JSON object");
            if (!root.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number || version.GetInt32() != 1)
                throw new FormatException("the record has no version 1");
            var leaves = new Dictionary<string, LeafSpec>(StringComparer.Ordinal);
            if (root.TryGetProperty("leaves", out var leavesElement))
            {
                foreach (var p in Properties(leavesElement, "leaves"))
                {
                    var spec = ReadSpec(p.Value, p.Name);
                    if (!leaves.TryAdd(p.Name, spec))
                        throw new FormatException($"the tensor '{p.Name}' is listed twice");
                }
            }

            var empty = new List<string>();
            if (root.TryGetProperty("empty", out var emptyElement))
            {
                if (emptyElement.ValueKind != JsonValueKind.Array)
                    throw new FormatException("'empty' is not an array");
                foreach (var e in emptyElement.EnumerateArray())
                    empty.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new FormatException("'empty' holds a non-string"));
            }

            return new Record(leaves, empty);
        }
        catch (Exception e) when (e is JsonException or FormatException or OverflowException or InvalidOperationException or ArgumentException)
        {
            throw new SafetensorsException(
                SafetensorsError.InvalidHeaderDeserialization,
                $"The StateTree structure record ('{Key}' in __metadata__) is malformed: {e.Message}",
                null,
                e);
        }
    }

    private static IEnumerable<JsonProperty> Properties(JsonElement element, string what)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new FormatException($"'{what}' is not an object");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in element.EnumerateObject())
        {
            if (!seen.Add(p.Name))
                throw new FormatException($"'{what}' has the key '{p.Name}' twice");
            yield return p;
        }
    }

    private static LeafSpec ReadSpec(JsonElement e, string name)
    {
        string? type = null;
        TensorLeaf.Kind? kind = null;
        var metadata = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var p in Properties(e, name))
        {
            switch (p.Name)
            {
                case "type":
                    type = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : throw new FormatException($"the type of '{name}' is not a string");
                    break;
                case "kind":
                    kind = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() switch
                    {
                        "tensor" => TensorLeaf.Kind.Tensor,
                        "array" => TensorLeaf.Kind.Array,
                        "scalar" => TensorLeaf.Kind.Scalar,
                        "raw" => TensorLeaf.Kind.Raw,
                        var k => throw new FormatException($"the kind '{k}' of '{name}' is unknown"),
                    } : throw new FormatException($"the kind of '{name}' is not a string");
                    break;
                case "metadata":
                    foreach (var m in Properties(p.Value, name + " metadata"))
                        metadata[m.Name] = ReadValue(m.Value);
                    break;
            }
        }

        if (type is null && metadata.Count > 0)
            throw new FormatException($"'{name}' has metadata but no Variable type");
        return new LeafSpec(type, metadata, kind);
    }

    private static object? ReadValue(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return e.GetString();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.Array when e.GetArrayLength() == 2 && e[0].ValueKind == JsonValueKind.String:
            {
                var code = e[0].GetString()!;
                if (code.EndsWith("[]", StringComparison.Ordinal))
                {
                    var elementCode = code[..^2];
                    if (!TypeOfCode.TryGetValue(elementCode, out var elementType) || e[1].ValueKind != JsonValueKind.Array)
                        throw new FormatException($"bad metadata array '{code}'");
                    var items = e[1];
                    var array = Array.CreateInstance(elementType, items.GetArrayLength());
                    var i = 0;
                    foreach (var item in items.EnumerateArray())
                    {
                        if (item.ValueKind == JsonValueKind.Null && !elementType.IsValueType)
                            array.SetValue(null, i++);
                        else if (item.ValueKind == JsonValueKind.String)
                            array.SetValue(Parse(elementCode, item.GetString()!), i++);
                        else
                            throw new FormatException($"bad element in metadata array '{code}'");
                    }

                    return array;
                }

                if (e[1].ValueKind != JsonValueKind.String)
                    throw new FormatException($"bad metadata value of code '{code}'");
                return Parse(code, e[1].GetString()!);
            }

            default:
                throw new FormatException($"bad metadata value {e.GetRawText()}");
        }
    }

    /// <summary>
    /// A Variable of the recorded type, value and metadata. Built-ins are made directly; other types are
    /// looked up by name (a <see cref="Variable"/> subclass only) and made through a constructor taking
    /// <c>(object?, IReadOnlyDictionary&lt;string, object?&gt;)</c>, <c>(object?)</c> or nothing, then given the
    /// value and metadata with <see cref="Variable.WithValue"/> and <see cref="Variable.WithMetadata"/>.
    /// </summary>
    public static Variable Create(string typeName, object? value, IReadOnlyDictionary<string, object?> metadata, string tensorName)
    {
        if (!Factories.TryGetValue(typeName, out var factory))
        {
            // Only types that resolve are cached: names read from files must not grow the cache.
            factory = Resolve(typeName);
            if (factory is not null)
                Factories.TryAdd(typeName, factory);
        }

        if (factory is null)
            throw new SafetensorsException(
                SafetensorsError.InvalidHeaderDeserialization,
                $"The Variable type '{typeName}' of tensor '{tensorName}' cannot be found or constructed.",
                tensorName);
        try
        {
            return factory(value, metadata);
        }
        catch (Exception e) when (e is not SafetensorsException)
        {
            throw new SafetensorsException(
                SafetensorsError.InvalidHeaderDeserialization,
                $"The Variable type '{typeName}' of tensor '{tensorName}' failed to construct: {e.Message}",
                tensorName,
                e);
        }
    }

    private static Func<object?, IReadOnlyDictionary<string, object?>, Variable>? Resolve(string typeName)
    {
        Type? type;
        try
        {
            type = Type.GetType(typeName, throwOnError: false);
        }
        catch (Exception)
        {
            // The name comes from a file: whatever the loader makes of it, an unresolvable name is just that.
            return null;
        }

        if (type is null || !typeof(Variable).IsAssignableFrom(type) || type.IsAbstract || type.ContainsGenericParameters)
            return null;
        const BindingFlags Flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        if (type.GetConstructor(Flags, [typeof(object), typeof(IReadOnlyDictionary<string, object?>)]) is { } full)
            return (v, m) => (Variable)full.Invoke([v, m]);
        if (type.GetConstructor(Flags, [typeof(object)]) is { } one)
            return (v, m) => WithMetadata(((Variable)one.Invoke([v])).WithValue(v), m);
        if (type.GetConstructor(Flags, Type.EmptyTypes) is { } none)
            return (v, m) => WithMetadata(((Variable)none.Invoke([])).WithValue(v), m);
        return null;
    }

    private static Variable WithMetadata(Variable v, IReadOnlyDictionary<string, object?> metadata)
    {
        foreach (var (k, value) in metadata)
            v = v.WithMetadata(k, value);
        return v;
    }
}
