using System.Buffers;
using System.Collections;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace StateTree.Checkpoint;

/// <summary>
/// Checkpoints as JSON files holding a state's pure dict (<see cref="State.ToPureDict"/>): Flax's
/// <c>json.dump(nnx.to_pure_dict(state))</c> and its way back, through files. For small states, configuration-like
/// values and exchange with tools that read JSON; tensors of any size belong in <see cref="Safetensors"/>.
/// </summary>
/// <remarks>
/// <para><b>What is written.</b> One JSON object: sub-states are objects, keys are their text (ints as digits, as
/// <c>json.dumps</c> writes a Python dict with int keys), in path order; a leaf is its <see cref="Variable.Value"/>
/// (a raw leaf itself) written by System.Text.Json: numbers, strings, booleans, null, arrays; multi-dimensional
/// arrays and <see cref="Tensor{T}"/>s as nested arrays, row-major; <c>NaN</c> and infinities as the strings
/// <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>. Variable types and metadata are not written (as in Flax's
/// pure dicts); empty sub-states are dropped.</para>
/// <para><b>Reading without a template</b> (<see cref="Load(string)"/>): every canonical integer key
/// (<c>"0"</c>, <c>"-3"</c>, not <c>"05"</c>) becomes an int key (<see cref="State.RestoreIntPaths(JsonElement)"/>);
/// leaves become raw values, by JSON's own types: every number a <see cref="double"/>, a string a
/// <see cref="string"/>, <c>true</c>/<c>false</c> a <see cref="bool"/>, null null; an array of numbers a
/// <c>double[]</c> (an empty array too), of strings a <c>string[]</c>, of booleans a <c>bool[]</c>, rectangular
/// nested arrays of numbers a <c>double[,…]</c>, any other array an <c>object?[]</c> of such values.</para>
/// <para><b>Reading with a template</b> (<see cref="Load(string, State)"/>, <see cref="LoadInto(State, string, LoadOptions?)"/>):
/// keys resolve as in <see cref="State.ReplaceByPureDict(JsonElement)"/> (a string key becomes an int key only where
/// the template has that int key), and each value is read as the type of the template value it replaces
/// (a <c>float[]</c> stays a <c>float[]</c>, an <c>int</c> an <c>int</c>, a <c>Tensor&lt;float&gt;</c> or
/// <c>float[,]</c> from its nested arrays, a variable keeps its type and metadata), then checked against the
/// template's shape. A template value that is null takes the template-free reading.</para>
/// <para>Writing is crash-safe: a temporary file in the target's folder, flushed to disk, then renamed over the
/// target. Errors name the file and every path at fault; a failing call leaves no partial result.</para>
/// </remarks>
public static class JsonCheckpoint
{
    /// <summary>Numbers as System.Text.Json writes them, plus the named literals for NaN and the infinities.</summary>
    internal static readonly JsonSerializerOptions ValueOptions = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        // Deep states are legal (the library works at depth 10,000); the parser itself does not recurse.
        MaxDepth = 1_000_000,
        AllowDuplicateProperties = false,
    };

    /// <summary>
    /// Writes <paramref name="state"/>'s pure dict to <paramref name="path"/> as JSON (see the class remarks for the
    /// format), through a temporary file in the same folder that is flushed to disk and then renamed over the target.
    /// </summary>
    /// <param name="state">The state.</param>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> or <paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// Some leaves cannot be written faithfully: an int key and a string key of one node would both be written as the
    /// same text (<c>0</c> and <c>"0"</c>), or a value would be written as a JSON object (it would load back as a
    /// sub-state) or cannot be written at all. The message names the file and every path at fault; no file is written.
    /// </exception>
    /// <exception cref="IOException">The file cannot be written (the message names it).</exception>
    public static void Save(State state, string path)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var flat = state.Flatten();
        var problems = Validate(state, flat);
        if (problems.Count > 0)
        {
            throw new ArgumentException(
                $"Cannot save the state to the JSON checkpoint '{path}':\n" + string.Join("\n", problems),
                nameof(state));
        }

        AtomicFile.Write(full, stream =>
        {
            using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { MaxDepth = int.MaxValue });
            Write(writer, flat, path);
            writer.Flush();
        });
    }

    /// <summary>
    /// Reads a JSON checkpoint without a template: canonical integer keys become int keys, leaves become raw values
    /// by JSON's own types (every number a <see cref="double"/>, an array of numbers a <c>double[]</c>; see the class
    /// remarks). Empty objects are dropped.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <returns>The state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object without duplicate keys (the message names the file and, where there is one, the path).</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static State Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var document = Parse(path);
        var restored = Restore(path, document.RootElement, null);
        var pairs = new List<(KeyPath Path, object? Leaf)>();
        foreach (var (leafPath, leaf) in Leaves(restored))
        {
            try
            {
                pairs.Add((leafPath, leaf is JsonElement e ? JsonValues.Natural(e) : leaf));
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException or InsufficientExecutionStackException)
            {
                throw new InvalidDataException($"The JSON checkpoint '{path}' has a value that cannot be read at {leafPath.ToTupleString()}: {e.Message}", e);
            }
        }

        return State.FromFlatState(pairs);
    }

    /// <summary>
    /// Reads a JSON checkpoint into <paramref name="template"/> (Flax's <c>nnx.replace_by_pure_dict</c> from a file):
    /// the leaves the file mentions are read as the types of the template values they replace (a <c>float[]</c>
    /// stays a <c>float[]</c>), variables keep their types and metadata, and the leaves the file does not mention
    /// keep their template values.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="template">The state whose structure and value types the file is read into.</param>
    /// <returns>The template with the file's values.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="template"/> is null.</exception>
    /// <exception cref="LoadMismatchException">
    /// The file has paths the template does not have, or values that cannot be read as the template's types or
    /// have other shapes; the message names the file and lists every such path.
    /// </exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object without duplicate keys.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static State Load(string path, State template) => Load(path, template, false);

    /// <summary>
    /// <see cref="Load(string, State)"/>; with <paramref name="strict"/>, a template leaf that the file does not
    /// mention is an error too (Flax's <c>replace_by_pure_dict</c> with PyTorch's <c>strict=True</c>).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="template">The state whose structure and value types the file is read into.</param>
    /// <param name="strict">Also fail on template leaves that the file does not mention.</param>
    /// <returns>The template with the file's values.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="template"/> is null.</exception>
    /// <exception cref="LoadMismatchException">The file does not fit the template; the message names the file and lists every problem.</exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object without duplicate keys.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static State Load(string path, State template, bool strict)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(template);
        var options = new LoadOptions { Missing = strict ? LoadPolicy.Error : LoadPolicy.Skip };
        return LoadInto(template, path, options).State;
    }

    /// <summary>
    /// Reads a JSON checkpoint into <paramref name="template"/> strictly (every difference is an error); see
    /// <see cref="LoadInto(State, string, LoadOptions?)"/>.
    /// </summary>
    /// <param name="template">The state whose structure and value types the file is read into.</param>
    /// <param name="path">The file.</param>
    /// <returns>The loaded state and the report.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="template"/> or <paramref name="path"/> is null.</exception>
    /// <exception cref="LoadMismatchException">The file does not fit the template; the message lists every problem.</exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object without duplicate keys.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static (State State, LoadReport Report) LoadInto(State template, string path) => LoadInto(template, path, null);

    /// <summary>
    /// Reads a JSON checkpoint into <paramref name="template"/> with the comparison of
    /// <see cref="CheckpointLoader.LoadInto(State, string, LoadOptions?)"/>: missing and unexpected paths, values that
    /// cannot be read as the template's types (dtype mismatches) and values of other shapes, each under its
    /// <see cref="LoadPolicy"/>. Values are read as the types of the template values they replace.
    /// </summary>
    /// <param name="template">The state whose structure and value types the file is read into.</param>
    /// <param name="path">The file.</param>
    /// <param name="options">What to do about each kind of difference; null: <see cref="LoadOptions.Strict"/>.</param>
    /// <returns>The loaded state (the template's structure) and the report of the problems tolerated under <see cref="LoadPolicy.Report"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="template"/> or <paramref name="path"/> is null.</exception>
    /// <exception cref="LoadMismatchException">Some problem's policy is <see cref="LoadPolicy.Error"/>; the message names the file and lists every such problem.</exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object without duplicate keys.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static (State State, LoadReport Report) LoadInto(State template, string path, LoadOptions? options)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(path);
        using var document = Parse(path);
        var restored = Restore(path, document.RootElement, template);
        return LoadEngine.Run(template, Leaves(restored), options ?? LoadOptions.Strict, path, JsonValues.Adapt);
    }

    /// <summary>
    /// The file's pure dict with canonical integer keys restored (Flax's <c>restore_int_paths(json.load(f))</c>):
    /// nested <c>Dictionary&lt;object, object?&gt;</c> nodes whose leaves are the <see cref="JsonElement"/>s as given,
    /// ready for <see cref="State.ReplaceByPureDict(Dictionary{object, object})"/>, which reads each as the type of the
    /// value it replaces. Empty objects are dropped.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <returns>The pure dict.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object without duplicate keys.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static Dictionary<object, object?> LoadPureDict(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var document = Parse(path);
        return Restore(path, document.RootElement.Clone(), null);
    }

    /// <summary>
    /// The file's pure dict with string keys turned into int keys exactly where <paramref name="template"/> has that
    /// int key (<see cref="State.RestoreIntPaths(JsonElement, State)"/>: by structure, not by guessing); leaves are the
    /// <see cref="JsonElement"/>s as given. Empty objects are dropped.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="template">The state whose structure decides which keys are ints.</param>
    /// <returns>The pure dict.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="template"/> is null.</exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object without duplicate keys.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static Dictionary<object, object?> LoadPureDict(string path, State template)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(template);
        using var document = Parse(path);
        return Restore(path, document.RootElement.Clone(), template);
    }

    // ---- reading ----

    private static JsonDocument Parse(string path)
    {
        var bytes = File.ReadAllBytes(path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The file '{path}' is not a JSON checkpoint: {e.Message}", e);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = document.RootElement.ValueKind;
            document.Dispose();
            throw new InvalidDataException($"The file '{path}' is not a JSON checkpoint: its root is a JSON {kind.ToString().ToLowerInvariant()}, not an object.");
        }

        return document;
    }

    private static Dictionary<object, object?> Restore(string path, JsonElement root, State? template)
    {
        try
        {
            return template is null ? State.RestoreIntPaths(root) : State.RestoreIntPaths(root, template);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"The JSON checkpoint '{path}' has keys that collide: {e.Message}", e);
        }
    }

    /// <summary>The leaves of a restored pure dict with their paths, in key order, without recursion.</summary>
    private static List<(KeyPath Path, object? Leaf)> Leaves(Dictionary<object, object?> root)
    {
        var leaves = new List<(KeyPath Path, object? Leaf)>();
        var stack = new Stack<(KeyPath Path, Dictionary<object, object?> Node)>();
        stack.Push((KeyPath.Empty, root));
        while (stack.Count > 0)
        {
            var (path, node) = stack.Pop();
            foreach (var (key, value) in node)
            {
                var child = path.Append(key is int i ? i : (PathKey)(string)key);
                if (value is Dictionary<object, object?> sub)
                    stack.Push((child, sub));
                else
                    leaves.Add((child, value));
            }
        }

        leaves.Sort((a, b) => a.Path.CompareTo(b.Path));
        return leaves;
    }

    // ---- writing ----

    /// <summary>Every reason the state cannot be written faithfully, one line each.</summary>
    private static List<string> Validate(State state, IReadOnlyList<(KeyPath Path, object? Leaf)> flat)
    {
        var problems = new List<string>();
        var checkedNodes = new HashSet<KeyPath>();
        foreach (var (path, leaf) in flat)
        {
            // A string key that is an int's text collides with that int key, if the node has it.
            var keys = path.ToArray();
            for (var d = 0; d < keys.Length; d++)
            {
                if (keys[d].IsIndex || !IsCanonicalInt(keys[d].Name, out var n))
                    continue;
                var parent = KeyPath.Of(keys[..d]);
                var node = d == 0 ? state : state[parent] as State;
                if (node is not null && node.ContainsKey(n) && checkedNodes.Add(parent.Append(keys[d])))
                    problems.Add($"  {parent.Append(n).ToTupleString()} and {parent.Append(keys[d]).ToTupleString()}: both keys would be written as \"{n}\".");
            }

            var value = leaf is Variable v ? v.Value : leaf;
            if (JsonValues.WhyNotWritable(value) is { } reason)
                problems.Add($"  {path.ToTupleString()}: {reason}");
        }

        return problems;
    }

    private static bool IsCanonicalInt(string text, out int value) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value)
        && value.ToString(CultureInfo.InvariantCulture) == text;

    /// <summary>The nested object of the flat leaves (in path order), opening and closing objects as paths change.</summary>
    private static void Write(Utf8JsonWriter writer, IReadOnlyList<(KeyPath Path, object? Leaf)> flat, string file)
    {
        // Each value is written by a writer of its own, so that the serializer's depth limit counts the value's
        // own nesting, not the depth of the state around it.
        var buffer = new ArrayBufferWriter<byte>();
        using var valueWriter = new Utf8JsonWriter(buffer);
        writer.WriteStartObject();
        var open = new List<PathKey>();
        foreach (var (path, leaf) in flat)
        {
            var keys = path.ToArray();
            var common = 0;
            while (common < open.Count && common < keys.Length - 1 && open[common].Equals(keys[common]))
                common++;
            for (var d = open.Count; d > common; d--)
                writer.WriteEndObject();
            open.RemoveRange(common, open.Count - common);
            for (var d = common; d < keys.Length - 1; d++)
            {
                writer.WritePropertyName(keys[d].ToString());
                writer.WriteStartObject();
                open.Add(keys[d]);
            }

            writer.WritePropertyName(keys[^1].ToString());
            try
            {
                buffer.ResetWrittenCount();
                valueWriter.Reset(buffer);
                JsonValues.Write(valueWriter, leaf is Variable v ? v.Value : leaf);
                valueWriter.Flush();
                writer.WriteRawValue(buffer.WrittenSpan, skipInputValidation: true);
            }
            catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException or JsonException)
            {
                throw new ArgumentException($"Cannot save the state to the JSON checkpoint '{file}': the value at {path.ToTupleString()} cannot be written: {e.Message}", "state", e);
            }
        }

        for (var d = open.Count; d > 0; d--)
            writer.WriteEndObject();
        writer.WriteEndObject();
    }
}

/// <summary>Leaf values to and from JSON.</summary>
internal static class JsonValues
{
    /// <summary>Why a value would not load back as what it is, or null when it can be written.</summary>
    public static string? WhyNotWritable(object? value)
    {
        switch (value)
        {
            case null:
                return null;
            case JsonElement { ValueKind: JsonValueKind.Object }:
            case JsonObject:
                return "a JSON object value would load back as a sub-state.";
            case Array array when array.Rank > 1:
                return WhyNotWritableType(array.GetType().GetElementType()!);
            case IReadOnlyTensor when TensorElement(value.GetType()) is { } element:
                return WhyNotWritableType(element);
            default:
                return WhyNotWritableType(value.GetType());
        }
    }

    private static string? WhyNotWritableType(Type type)
    {
        if (type == typeof(object) || type == typeof(JsonElement) || type == typeof(JsonNode))
            return null;
        try
        {
            var kind = JsonCheckpoint.ValueOptions.GetTypeInfo(type).Kind;
            if (kind is JsonTypeInfoKind.Object or JsonTypeInfoKind.Dictionary)
                return $"a {LoadEngine.TypeName(type)} is written as a JSON object and would load back as a sub-state.";
            if (kind is JsonTypeInfoKind.Enumerable && type.IsArray && type.GetElementType() is { } element)
                return WhyNotWritableType(element);
            return null;
        }
        catch (NotSupportedException e)
        {
            return $"a {LoadEngine.TypeName(type)} cannot be written as JSON: {e.Message}";
        }
    }

    public static void Write(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                return;
            case Array array when array.Rank > 1:
                WriteNested(writer, array.GetEnumerator(), Shape(array), 0, array.GetType().GetElementType()!);
                return;
            case IReadOnlyTensor tensor when TensorElement(value.GetType()) is { } element:
                var lengths = tensor.Lengths;
                var shape = new long[lengths.Length];
                for (var d = 0; d < shape.Length; d++)
                    shape[d] = lengths[d];
                WriteNested(writer, ((IEnumerable)tensor).GetEnumerator(), shape, 0, element);
                return;
            default:
                JsonSerializer.Serialize(writer, value, value.GetType(), JsonCheckpoint.ValueOptions);
                return;
        }
    }

    private static long[] Shape(Array array)
    {
        var shape = new long[array.Rank];
        for (var d = 0; d < shape.Length; d++)
            shape[d] = array.GetLongLength(d);
        return shape;
    }

    /// <summary>Row-major elements as nested arrays, one level per dimension (rank ≤ 32, so recursion is shallow).</summary>
    private static void WriteNested(Utf8JsonWriter writer, IEnumerator elements, long[] shape, int dimension, Type element)
    {
        if (dimension == shape.Length)
        {
            elements.MoveNext();
            JsonSerializer.Serialize(writer, elements.Current, element, JsonCheckpoint.ValueOptions);
            return;
        }

        writer.WriteStartArray();
        for (long i = 0; i < shape[dimension]; i++)
            WriteNested(writer, elements, shape, dimension + 1, element);
        writer.WriteEndArray();
    }

    internal static Type? TensorElement(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Tensor<>) ? type.GetGenericArguments()[0] : null;

    // ---- template-free reading ----

    /// <summary>A JSON value by JSON's own types (see <see cref="JsonCheckpoint"/>'s remarks).</summary>
    public static object? Natural(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Null:
            case JsonValueKind.Undefined:
                return null;
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.String:
                return e.GetString();
            case JsonValueKind.Number:
                return Number(e);
            case JsonValueKind.Array:
                return NaturalArray(e);
            default:
                return e.Clone();
        }
    }

    private static double Number(JsonElement e) =>
        e.TryGetDouble(out var d) ? d : throw new FormatException($"the number {e.GetRawText()} does not fit a double");

    private static object NaturalArray(JsonElement e)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        var length = e.GetArrayLength();
        if (length == 0)
            return Array.Empty<double>();
        var first = e[0].ValueKind;
        var same = e.EnumerateArray().All(x => x.ValueKind == first || (IsBool(first) && IsBool(x.ValueKind)));
        if (same)
        {
            switch (first)
            {
                case JsonValueKind.Number:
                    return e.EnumerateArray().Select(Number).ToArray();
                case JsonValueKind.String:
                    return e.EnumerateArray().Select(x => x.GetString()!).ToArray();
                case JsonValueKind.True:
                case JsonValueKind.False:
                    return e.EnumerateArray().Select(x => x.GetBoolean()).ToArray();
                case JsonValueKind.Array when RectangularShape(e) is { } shape:
                    var result = Array.CreateInstance(typeof(double), shape);
                    var i = 0;
                    var span = MemoryMarshal.CreateSpan(
                        ref Unsafe.As<byte, double>(ref MemoryMarshal.GetArrayDataReference(result)),
                        checked((int)result.LongLength));
                    Fill(e, shape.Length, span, ref i);
                    return result;
            }
        }

        return e.EnumerateArray().Select(Natural).ToArray();
    }

    private static bool IsBool(JsonValueKind kind) => kind is JsonValueKind.True or JsonValueKind.False;

    /// <summary>The lengths of nested arrays that are rectangular with numbers at the bottom (rank ≥ 2, ≤ 32), else null.</summary>
    private static int[]? RectangularShape(JsonElement e)
    {
        var lengths = new List<int>();
        var probe = e;
        while (probe.ValueKind == JsonValueKind.Array)
        {
            lengths.Add(probe.GetArrayLength());
            if (lengths.Count > 32)
                return null;
            if (probe.GetArrayLength() == 0)
                break;
            probe = probe[0];
        }

        if (lengths.Count < 2 || (probe.ValueKind != JsonValueKind.Number && lengths[^1] != 0))
            return null;
        var shape = lengths.ToArray();
        return Conforms(e, shape, 0) ? shape : null;
    }

    private static bool Conforms(JsonElement e, int[] shape, int dimension)
    {
        if (dimension == shape.Length)
            return e.ValueKind == JsonValueKind.Number;
        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != shape[dimension])
            return false;
        foreach (var x in e.EnumerateArray())
        {
            if (!Conforms(x, shape, dimension + 1))
                return false;
        }

        return true;
    }

    private static void Fill(JsonElement e, int rank, Span<double> into, ref int next)
    {
        if (rank == 0)
        {
            into[next++] = Number(e);
            return;
        }

        foreach (var x in e.EnumerateArray())
            Fill(x, rank - 1, into, ref next);
    }

    // ---- reading as the template's types ----

    /// <summary>The loaded JSON value read as the type of the template value (template-free when that is null).</summary>
    public static readonly LeafAdapter Adapt = (template, loaded) =>
    {
        if (loaded is not JsonElement e)
            return new Adapted(true, Containers.Adapt(template, loaded), null);
        try
        {
            return new Adapted(true, template is null ? Natural(e) : ReadAs(e, template), null);
        }
        catch (Exception x) when (x is JsonException or NotSupportedException or InvalidOperationException
                                      or FormatException or OverflowException or ArgumentException
                                      or InsufficientExecutionStackException)
        {
            var what = e.ValueKind switch
            {
                JsonValueKind.Array => "a JSON array",
                JsonValueKind.String => "a JSON string",
                JsonValueKind.Number => "a JSON number",
                JsonValueKind.True or JsonValueKind.False => "a JSON boolean",
                JsonValueKind.Null => "JSON null",
                _ => "a JSON value",
            };
            return new Adapted(false, null, $"{what} that cannot be read as {LoadEngine.TypeName(template!.GetType())} ({x.Message})");
        }
    };

    private static object? ReadAs(JsonElement e, object template)
    {
        var type = template.GetType();
        var rank = type.IsArray && type.GetArrayRank() > 1 ? type.GetArrayRank()
            : TensorElement(type) is not null ? ((IReadOnlyTensor)template).Rank
            : -1;
        if (rank >= 0)
        {
            var element = type.IsArray ? type.GetElementType()! : TensorElement(type)!;
            var lengths = new int[rank];
            var probe = e;
            for (var d = 0; d < rank; d++)
            {
                if (probe.ValueKind != JsonValueKind.Array)
                    throw new JsonException($"expected {rank} levels of nested arrays");
                lengths[d] = probe.GetArrayLength();
                if (d < rank - 1 && lengths[d] > 0)
                    probe = probe[0];
            }

            var flat = Array.CreateInstance(element, lengths.Aggregate(1, (a, b) => checked(a * b)));
            var next = 0;
            FillShaped(e, element, lengths, 0, flat, ref next);
            return ShapeMethod.MakeGenericMethod(element).Invoke(null, [flat, lengths, type.IsArray]);
        }

        var value = e.Deserialize(type, JsonCheckpoint.ValueOptions);
        if (value is null && e.ValueKind != JsonValueKind.Null)
            throw new JsonException("no value");
        return value;
    }

    private static readonly System.Reflection.MethodInfo ShapeMethod =
        typeof(JsonValues).GetMethod(nameof(Shaped), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;

    /// <summary>Row-major elements as a multi-dimensional array or a tensor of the given lengths.</summary>
    private static object Shaped<T>(T[] elements, int[] lengths, bool array)
    {
        if (array)
        {
            var result = Array.CreateInstance(typeof(T), lengths);
            elements.CopyTo(MemoryMarshal.CreateSpan(
                ref Unsafe.As<byte, T>(ref MemoryMarshal.GetArrayDataReference(result)),
                elements.Length));
            return result;
        }

        var shape = new nint[lengths.Length];
        for (var d = 0; d < shape.Length; d++)
            shape[d] = lengths[d];
        return Tensor.Create(elements, shape);
    }

    /// <summary>Rectangular nested arrays into a flat array, row-major (rank ≤ 32, so recursion is shallow).</summary>
    private static void FillShaped(JsonElement e, Type element, int[] lengths, int dimension, Array into, ref int next)
    {
        if (dimension == lengths.Length)
        {
            var value = e.Deserialize(element, JsonCheckpoint.ValueOptions);
            if (value is null && element.IsValueType)
                throw new JsonException($"null where a {LoadEngine.TypeName(element)} is expected");
            into.SetValue(value, next++);
            return;
        }

        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != lengths[dimension])
            throw new JsonException("the nested arrays are not rectangular");
        foreach (var x in e.EnumerateArray())
            FillShaped(x, element, lengths, dimension + 1, into, ref next);
    }
}
