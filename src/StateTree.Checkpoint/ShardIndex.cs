using System.Globalization;
using System.Text;
using System.Text.Json;

namespace StateTree.Checkpoint;

/// <summary>
/// A Hugging Face sharded checkpoint's index (<c>model.safetensors.index.json</c>):
/// <c>{"metadata": {"total_size": …}, "weight_map": {tensor name: shard file name}}</c>.
/// </summary>
internal sealed class ShardIndex
{
    /// <summary>An index larger than this is refused (it is a small JSON map).</summary>
    private const long MaxIndexLength = 100_000_000;

    private readonly Dictionary<string, HashSet<string>> byFile;

    private ShardIndex(SortedDictionary<string, string> metadata, Dictionary<string, HashSet<string>> byFile, List<string> files)
    {
        Metadata = metadata;
        this.byFile = byFile;
        Files = files;
    }

    /// <summary>The index's <c>metadata</c>; values that are not strings as their JSON text.</summary>
    public SortedDictionary<string, string> Metadata { get; }

    /// <summary>The shard files, in the order of their first tensor in the weight map.</summary>
    public List<string> Files { get; }

    /// <summary>The tensors the index puts in a file.</summary>
    public HashSet<string> TensorsOf(string file) => byFile[file];

    /// <summary>
    /// Writes the index as <c>transformers</c> does (<c>json.dumps(index, indent=2, sort_keys=True) + "\n"</c>).
    /// </summary>
    public static void Write(Stream stream, long totalSize, string saveId, IEnumerable<(string Name, string File)> weightMap)
    {
        var entries = weightMap
            .Select(e => (e.Name, e.File, Key: Encoding.UTF8.GetBytes(e.Name)))
            .ToList();
        // Python sorts by code point, which is UTF-8 byte order.
        entries.Sort((a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        var sb = new StringBuilder();
        // Keys sorted as sort_keys=True does: "statetree.save_id" < "total_size".
        sb.Append("{\n  \"metadata\": {\n    \"statetree.save_id\": ");
        PythonString(sb, saveId);
        sb.Append(",\n    \"total_size\": ")
            .Append(totalSize.ToString(CultureInfo.InvariantCulture))
            .Append("\n  },\n  \"weight_map\": {");
        for (var i = 0; i < entries.Count; i++)
        {
            sb.Append(i == 0 ? "\n    " : ",\n    ");
            PythonString(sb, entries[i].Name);
            sb.Append(": ");
            PythonString(sb, entries[i].File);
        }

        sb.Append(entries.Count == 0 ? "}\n}\n" : "\n  }\n}\n");
        stream.Write(Encoding.ASCII.GetBytes(sb.ToString()));
    }

    /// <summary>A JSON string as Python's <c>json.dumps</c> writes it with <c>ensure_ascii=True</c>.</summary>
    private static void PythonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"':
                    sb.Append("\\\"");
                    break;
                case '\\':
                    sb.Append("\\\\");
                    break;
                case '\n':
                    sb.Append("\\n");
                    break;
                case '\r':
                    sb.Append("\\r");
                    break;
                case '\t':
                    sb.Append("\\t");
                    break;
                case '\b':
                    sb.Append("\\b");
                    break;
                case '\f':
                    sb.Append("\\f");
                    break;
                case < ' ' or > '~':
                    sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }

        sb.Append('"');
    }

    /// <summary>Reads and checks an index; every problem is a <see cref="SafetensorsException"/> (InvalidIndex).</summary>
    public static ShardIndex Read(string path)
    {
        byte[] bytes;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            if (fs.Length > MaxIndexLength)
                throw Invalid($"The index '{path}' has {fs.Length} bytes, more than the limit of {MaxIndexLength}.");
            bytes = new byte[fs.Length];
            fs.ReadExactly(bytes);
        }

        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Invalid("The index is not a JSON object.");
            var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal);
            JsonElement? weightMap = null;
            var seenTop = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (!seenTop.Add(p.Name))
                    throw Invalid($"The index has the key '{p.Name}' twice.");
                if (p.Name == "weight_map")
                    weightMap = p.Value;
                else if (p.Name == "metadata" && p.Value.ValueKind == JsonValueKind.Object)
                {
                    foreach (var m in p.Value.EnumerateObject())
                    {
                        if (!metadata.TryAdd(m.Name, m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText()))
                            throw Invalid($"The index metadata has the key '{m.Name}' twice.");
                    }
                }
                else if (p.Name == "metadata" && p.Value.ValueKind != JsonValueKind.Null)
                    throw Invalid("The index's 'metadata' is not an object.");
            }

            if (weightMap is not { ValueKind: JsonValueKind.Object } map)
                throw Invalid("The index has no 'weight_map' object.");
            var byFile = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            var files = new List<string>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in map.EnumerateObject())
            {
                if (!names.Add(p.Name))
                    throw new SafetensorsException(SafetensorsError.InvalidIndex, $"The index lists the tensor '{p.Name}' twice.", p.Name);
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new SafetensorsException(SafetensorsError.InvalidIndex, $"The index maps the tensor '{p.Name}' to something other than a file name.", p.Name);
                var file = p.Value.GetString()!;
                if (!IsPlainFileName(file))
                    throw new SafetensorsException(
                        SafetensorsError.InvalidIndex,
                        $"The index puts the tensor '{p.Name}' in '{file}', which is not a file of the index's folder.",
                        p.Name);
                if (!byFile.TryGetValue(file, out var set))
                {
                    set = new HashSet<string>(StringComparer.Ordinal);
                    byFile[file] = set;
                    files.Add(file);
                }

                set.Add(p.Name);
            }

            return new ShardIndex(metadata, byFile, files);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            throw new SafetensorsException(SafetensorsError.InvalidIndex, $"The index '{path}' is not valid JSON: {e.Message}", null, e);
        }
    }

    private static bool IsPlainFileName(string file) =>
        file.Length > 0
        && file != "."
        && file != ".."
        && file.IndexOfAny(['/', '\\', '\0', ':']) < 0
        && !Path.IsPathRooted(file);

    private static SafetensorsException Invalid(string message) => new(SafetensorsError.InvalidIndex, message);
}
