using System.Collections.ObjectModel;
using System.Text;
using System.Text.RegularExpressions;

namespace StateTree.Checkpoint;

/// <summary>
/// Saves and loads a <see cref="State"/> as safetensors, the format of Hugging Face and PyTorch checkpoints:
/// an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
/// then the row-major little-endian tensor bytes. Files are written byte for byte as the reference
/// implementation (huggingface/safetensors) writes them and read as strictly as it reads them.
/// </summary>
/// <remarks>
/// <para>
/// <b>Names.</b> Each leaf becomes one tensor named by its path in the PyTorch convention
/// (<c>layers.0.kernel</c>); <see cref="TensorNames"/> gives the escaping rule that keeps every path's name
/// distinct. A file written by any other tool loads with its dotted names split into keys, canonical integer
/// strings (<c>"0"</c>, <c>"17"</c>, <c>"-3"</c>; not <c>"05"</c>) becoming int keys.
/// </para>
/// <para>
/// <b>Leaves.</b> A leaf, or a <see cref="Variable"/>'s value, must be a <c>Tensor&lt;T&gt;</c>, a <c>T[]</c>, a
/// multi-dimensional <c>T[,…]</c>, a scalar <c>T</c> (shape <c>[]</c>) or a <see cref="RawTensor"/>, where T is
/// <see cref="double"/> (F64), <see cref="float"/> (F32), <see cref="Half"/> (F16), <see cref="BFloat16"/>
/// (BF16), <see cref="long"/> (I64), <see cref="int"/> (I32), <see cref="short"/> (I16), <see cref="sbyte"/>
/// (I8), <see cref="ulong"/> (U64), <see cref="uint"/> (U32), <see cref="ushort"/> (U16), <see cref="byte"/>
/// (U8) or <see cref="bool"/> (BOOL). Other dtypes (F8_*, F4, F6_*, C64) load as <see cref="RawTensor"/>s.
/// A file without a StateTree structure record loads as <c>Tensor&lt;T&gt;</c> leaves (rank ≥ 1) and scalars
/// (shape <c>[]</c>); with one (see <see cref="SafetensorsOptions.StoreStructure"/>), <c>Load(Save(s)) == s</c>.
/// </para>
/// <para>
/// <b>Safety.</b> Saving writes a temporary file in the target's folder, flushes it to disk and renames it over
/// the target, so a crash leaves either the old file or the new one, never a truncated one. Reading refuses
/// every malformed input with a <see cref="SafetensorsException"/> before allocating anything its size
/// depends on: a tensor's buffer is allocated only once its byte range is known to lie within the file.
/// </para>
/// </remarks>
public static class Safetensors
{
    /// <summary>The <c>__metadata__</c> key of the StateTree structure record.</summary>
    public const string StructureKey = Structure.Key;

    /// <summary>
    /// The <c>__metadata__</c> entry (in each shard) and index <c>metadata</c> entry that tie the files of one
    /// sharded save together: <see cref="Load(string)"/> refuses a shard whose id differs from its index's, so
    /// a crash in the middle of replacing a sharded checkpoint cannot load as a silent mix of two saves.
    /// </summary>
    public const string SaveIdKey = "statetree.save_id";

    private static readonly IReadOnlyDictionary<string, string> DefaultMetadata =
        new Dictionary<string, string> { ["format"] = "pt" };

    /// <summary>Test hook: called with each tensor's name right after its bytes are written.</summary>
    internal static Action<string>? TensorWritten;

    // ---- Save ------------------------------------------------------------------------------

    /// <summary>
    /// Saves a state as a safetensors checkpoint at <paramref name="path"/> (<c>…/model.safetensors</c>), or,
    /// when <see cref="SafetensorsOptions.MaxShardBytes"/> is set and the tensors do not fit in one file, as
    /// Hugging Face shards beside it (<c>model-00001-of-00002.safetensors</c>, …) with the index
    /// <c>model.safetensors.index.json</c>. Missing folders are created.
    /// </summary>
    /// <remarks>
    /// Each file is written to a temporary file in the same folder, flushed to disk, then renamed over its
    /// target. A single-file save then removes a stale index and its shards; a sharded save removes a stale
    /// single file and shards of an earlier save that the new index does not list. The shards of one save
    /// are renamed one after the other, so a crash during that step can leave a mix of two saves; every shard
    /// and the index carry the save's id (<see cref="SaveIdKey"/>), so loading such a mix is refused.
    /// </remarks>
    /// <param name="state">The state; every leaf a storable tensor (see the class remarks).</param>
    /// <param name="path">The target file.</param>
    /// <param name="options">How to write; null for <see cref="SafetensorsOptions.Default"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> or <paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// A leaf cannot be stored (the message lists every such path), a metadata entry is null or not valid
    /// UTF-16, or <see cref="SafetensorsOptions.MaxShardBytes"/> is not positive.
    /// </exception>
    /// <exception cref="SafetensorsException">The header would exceed 100,000,000 bytes (HeaderTooLarge).</exception>
    public static void Save(State state, string path, SafetensorsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(path);
        options ??= SafetensorsOptions.Default;
        if (options.MaxShardBytes is <= 0)
            throw new ArgumentException($"MaxShardBytes must be positive; got {options.MaxShardBytes}.", nameof(options));
        var (leaves, empties) = Prepare(state, options.StoreStructure);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' names no file.", nameof(path));
        var fileName = Path.GetFileName(full);
        if (fileName.Length == 0)
            throw new ArgumentException($"'{path}' names a folder, not a file.", nameof(path));
        Directory.CreateDirectory(dir);
        var indexPath = full + ".index.json";
        var stem = fileName.EndsWith(".safetensors", StringComparison.Ordinal) ? fileName[..^".safetensors".Length] : fileName;
        var shardPattern = new Regex("^" + Regex.Escape(stem) + @"-\d{5}-of-\d{5}\.safetensors$", RegexOptions.CultureInvariant);

        var shards = PlanShards(leaves, options.MaxShardBytes);
        if (shards.Count <= 1)
        {
            var metadata = FileMetadata(options, leaves, empties);
            var temp = AtomicFile.WriteTemp(dir, fileName, s => WriteFile(s, leaves, metadata));
            File.Move(temp, full, overwrite: true);
            AtomicFile.DeleteIfExists(indexPath);
            foreach (var stale in Directory.EnumerateFiles(dir).Where(f => shardPattern.IsMatch(Path.GetFileName(f))).ToList())
                AtomicFile.DeleteIfExists(stale);
            return;
        }

        var names = shards.Select((_, i) => $"{stem}-{i + 1:D5}-of-{shards.Count:D5}.safetensors").ToList();
        var saveId = Guid.NewGuid().ToString("N");
        var temps = new List<string>();
        try
        {
            for (var i = 0; i < shards.Count; i++)
            {
                var shard = shards[i];
                var metadata = FileMetadata(options, shard, i == 0 ? empties : []) ?? new(StringComparer.Ordinal);
                metadata[SaveIdKey] = saveId;
                temps.Add(AtomicFile.WriteTemp(dir, names[i], s => WriteFile(s, shard, metadata)));
            }

            var weightMap = shards.SelectMany((shard, i) => shard.Select(l => (l.Entry.Name, names[i])));
            var indexTemp = AtomicFile.WriteTemp(dir, Path.GetFileName(indexPath), s => ShardIndex.Write(s, leaves.Sum(l => l.Entry.ByteLength), saveId, weightMap));
            temps.Add(indexTemp);
        }
        catch
        {
            foreach (var t in temps)
                AtomicFile.DeleteIfExists(t);
            throw;
        }

        for (var i = 0; i < shards.Count; i++)
            File.Move(temps[i], Path.Combine(dir, names[i]), overwrite: true);
        File.Move(temps[^1], indexPath, overwrite: true);
        AtomicFile.DeleteIfExists(full);
        var keep = new HashSet<string>(names, StringComparer.Ordinal);
        foreach (var stale in Directory.EnumerateFiles(dir)
                     .Where(f => shardPattern.IsMatch(Path.GetFileName(f)) && !keep.Contains(Path.GetFileName(f)))
                     .ToList())
            AtomicFile.DeleteIfExists(stale);
    }

    /// <summary>
    /// Writes a state as one safetensors file to a stream (no temporary file, no sharding), exactly the bytes
    /// <see cref="Save"/> would write to a single file.
    /// </summary>
    /// <param name="state">The state.</param>
    /// <param name="stream">A writable stream; left open.</param>
    /// <param name="options">How to write; <see cref="SafetensorsOptions.MaxShardBytes"/> must be null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> or <paramref name="stream"/> is null.</exception>
    /// <exception cref="ArgumentException">As <see cref="Save"/>, or sharding was asked for.</exception>
    public static void Write(State state, Stream stream, SafetensorsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(stream);
        options ??= SafetensorsOptions.Default;
        if (options.MaxShardBytes is not null)
            throw new ArgumentException("A stream holds one file: sharding needs Save with a path.", nameof(options));
        var (leaves, empties) = Prepare(state, options.StoreStructure);
        WriteFile(stream, leaves, FileMetadata(options, leaves, empties));
    }

    /// <summary>The bytes of <see cref="Write"/>.</summary>
    internal static byte[] ToBytes(State state, SafetensorsOptions? options = null)
    {
        using var ms = new MemoryStream();
        Write(state, ms, options);
        return ms.ToArray();
    }

    /// <summary>A leaf ready to write.</summary>
    internal sealed record Prepared(KeyPath Path, HeaderEntry Entry, object Value, TensorLeaf.Kind Kind, LeafSpec Spec);

    private static (List<Prepared> Leaves, List<string> Empties) Prepare(State state, bool storeStructure)
    {
        var leaves = new List<Prepared>(state.LeafCount);
        var problems = new List<string>();
        foreach (var (path, leaf) in state.Flatten())
        {
            var value = leaf is Variable v ? v.Value : leaf;
            if (!TensorLeaf.TryDescribe(value, out Dtype? dtype, out var shape, out var kind))
            {
                var what = value is null ? "null" : $"a {value.GetType()}";
                problems.Add($"{path.ToTupleString()} holds {what}, which safetensors cannot store.");
                continue;
            }

            string name;
            try
            {
                name = TensorNames.Format(path);
                _ = HeaderJson.StrictUtf8.GetByteCount(name);
            }
            catch (EncoderFallbackException)
            {
                problems.Add($"{path.ToTupleString()} has a key with an unpaired surrogate, which UTF-8 cannot keep.");
                continue;
            }

            var spec = LeafSpec.Default;
            if (storeStructure)
            {
                IReadOnlyDictionary<string, object?> metadata = spec.Metadata;
                string? type = null;
                if (leaf is Variable variable)
                {
                    type = Structure.TypeName(variable.GetType());
                    metadata = variable.Metadata;
                    foreach (var (k, m) in variable.Metadata)
                    {
                        if (!Structure.IsValidUtf16(k))
                            problems.Add($"{path.ToTupleString()} has a metadata key with an unpaired surrogate.");
                        else if (Structure.CheckMetadataValue(m) is { } why)
                            problems.Add($"{path.ToTupleString()} has the metadata entry '{k}' holding {why}.");
                    }
                }

                var defaultKind = Structure.DefaultKind(dtype, shape);
                spec = new LeafSpec(type, metadata, kind == defaultKind ? null : kind);
            }

            var count = 1L;
            foreach (var d in shape)
                count *= d;
            leaves.Add(new Prepared(path, new HeaderEntry(name, dtype, shape, Dtypes.ByteLength(dtype, count)!.Value), value!, kind, spec));
        }

        var empties = new List<string>();
        if (storeStructure)
        {
            foreach (var path in EmptySubStates(state))
            {
                var name = TensorNames.Format(path);
                if (Structure.IsValidUtf16(name))
                    empties.Add(name);
                else
                    problems.Add($"{path.ToTupleString()} has a key with an unpaired surrogate, which UTF-8 cannot keep.");
            }
        }

        if (problems.Count > 0)
            throw new ArgumentException(
                "The state has leaves that cannot be saved as safetensors:\n" + string.Join("\n", problems),
                nameof(state));
        return (leaves, empties);
    }

    private static List<KeyPath> EmptySubStates(State state)
    {
        var result = new List<KeyPath>();
        var stack = new Stack<(KeyPath Path, State Node)>();
        stack.Push((KeyPath.Empty, state));
        while (stack.Count > 0)
        {
            var (path, node) = stack.Pop();
            foreach (var (key, child) in node)
            {
                if (child is not State sub)
                    continue;
                if (sub.Count == 0)
                    result.Add(path.Append(key));
                else
                    stack.Push((path.Append(key), sub));
            }
        }

        return result;
    }

    private static SortedDictionary<string, string>? FileMetadata(SafetensorsOptions options, IReadOnlyList<Prepared> leaves, IReadOnlyList<string> empties)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in options.Metadata ?? DefaultMetadata)
        {
            if (k is null || v is null)
                throw new ArgumentException("A metadata key or value is null.", nameof(options));
            if (!Structure.IsValidUtf16(k) || !Structure.IsValidUtf16(v))
                throw new ArgumentException($"The metadata entry '{k}' has an unpaired surrogate, which UTF-8 cannot keep.", nameof(options));
            map[k] = v;
        }

        if (options.StoreStructure)
        {
            map.Remove(StructureKey);
            var special = leaves.Where(l => !l.Spec.IsDefault).Select(l => (l.Entry.Name, l.Spec)).ToList();
            if (special.Count > 0 || empties.Count > 0)
                map[StructureKey] = Structure.Write(special, empties);
        }

        return map.Count == 0 ? null : map;
    }

    private static void WriteFile(Stream stream, IReadOnlyList<Prepared> leaves, SortedDictionary<string, string>? metadata)
    {
        var ordered = leaves.ToList();
        ordered.Sort((a, b) => HeaderJson.CompareForWriting(a.Entry, b.Entry));
        var header = HeaderJson.Write(ordered.Select(l => l.Entry).ToList(), metadata);
        stream.Write(header);
        foreach (var leaf in ordered)
        {
            TensorCodec.Write(stream, leaf.Value, leaf.Entry.Dtype, leaf.Kind);
            TensorWritten?.Invoke(leaf.Entry.Name);
        }
    }

    /// <summary>Greedy shards in path order, Hugging Face style; one shard (or none) when everything fits.</summary>
    private static List<List<Prepared>> PlanShards(List<Prepared> leaves, long? maxShardBytes)
    {
        var total = leaves.Sum(l => l.Entry.ByteLength);
        if (maxShardBytes is not { } max || total <= max)
            return [leaves];
        var shards = new List<List<Prepared>>();
        List<Prepared>? current = null;
        long size = 0;
        foreach (var leaf in leaves)
        {
            var n = leaf.Entry.ByteLength;
            if (current is null || (current.Count > 0 && size + n > max))
            {
                current = [];
                shards.Add(current);
                size = 0;
            }

            current.Add(leaf);
            size += n;
        }

        return shards;
    }

    // ---- Load ------------------------------------------------------------------------------

    /// <summary>
    /// Loads a checkpoint: a <c>.safetensors</c> file, a sharded checkpoint's index <c>.json</c>, a folder holding
    /// either (an index first, then <c>model.safetensors</c> or the only <c>.safetensors</c> file), or the single-file
    /// target of a sharded <see cref="Save"/> (whose <c>….index.json</c> is then read).
    /// </summary>
    /// <param name="path">The file, index or folder.</param>
    /// <returns>The state: exactly the saved one when the file has a structure record, else bare tensors and scalars.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">Nothing to load is there.</exception>
    /// <exception cref="ArgumentException">The folder holds several candidate checkpoints.</exception>
    /// <exception cref="SafetensorsException">A file or the index is malformed (<see cref="SafetensorsException.Reason"/> says how).</exception>
    public static State Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return LoadPath(path, null);
    }

    /// <summary>
    /// As <see cref="Load(string)"/>, reading only the bytes of the tensors whose leaves match
    /// <paramref name="filter"/> (positional reads; the rest of the file is not read). Empty sub-states are dropped,
    /// as <see cref="State.Filter(StateTree.Filter)"/> drops them.
    /// </summary>
    /// <remarks>
    /// The filter decides before any tensor data is read, so it sees each leaf with its value replaced by the
    /// tensor's <see cref="TensorInfo"/>: a Variable leaf is a Variable of its recorded type and metadata whose
    /// <see cref="Variable.Value"/> is the <see cref="TensorInfo"/>, a raw leaf is the <see cref="TensorInfo"/>
    /// itself. Path, Variable-type and tag filters therefore select exactly what they select in the loaded state;
    /// <c>Filter.Where((path, leaf) =&gt; leaf is TensorInfo { Dtype: "F32" })</c> selects by dtype or shape.
    /// </remarks>
    /// <param name="path">The file, index or folder.</param>
    /// <param name="filter">Which leaves to load.</param>
    /// <returns>The matching part of the state.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="FileNotFoundException">Nothing to load is there.</exception>
    /// <exception cref="ArgumentException">The folder holds several candidate checkpoints.</exception>
    /// <exception cref="SafetensorsException">A file or the index is malformed.</exception>
    public static State Load(string path, Filter filter)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(filter);
        return LoadPath(path, filter);
    }

    /// <summary>Reads one safetensors file from a seekable stream (left open), as <see cref="Load(string)"/> reads a file.</summary>
    /// <param name="stream">A readable, seekable stream positioned anywhere; the file is its whole content.</param>
    /// <returns>The state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stream"/> is null.</exception>
    /// <exception cref="ArgumentException">The stream cannot seek.</exception>
    /// <exception cref="SafetensorsException">The content is malformed.</exception>
    public static State Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
            throw new ArgumentException("The stream must be seekable.", nameof(stream));
        using var source = ByteSource.FromStream(stream);
        return Read(source, null);
    }

    /// <summary>Reads one safetensors file held in memory: the tests' fast path.</summary>
    internal static State Read(ReadOnlyMemory<byte> bytes, Filter? filter = null)
    {
        using var source = ByteSource.FromMemory(bytes);
        return Read(source, filter);
    }

    /// <summary>
    /// Reads a safetensors header without any tensor data: of a file, or of a sharded checkpoint (an index, a
    /// folder, or the single-file target of a sharded save), whose shards' tensors are then listed one shard
    /// after the other, each with its <see cref="TensorInfo.File"/>.
    /// </summary>
    /// <param name="path">The file, index or folder.</param>
    /// <returns>The header.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">Nothing to read is there.</exception>
    /// <exception cref="SafetensorsException">A header or the index is malformed.</exception>
    public static SafetensorsHeader ReadHeader(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (isIndex, resolved) = Resolve(path);
        if (!isIndex)
        {
            using var source = ByteSource.OpenFile(resolved);
            return ToHeader(HeaderJson.Read(source));
        }

        var index = ShardIndex.Read(resolved);
        var dir = Path.GetDirectoryName(resolved)!;
        var tensors = new List<TensorInfo>();
        long headerLength = 0;
        foreach (var file in index.Files)
        {
            using var source = OpenShard(dir, file);
            var header = HeaderJson.Read(source);
            CheckShard(index, file, header);
            headerLength += header.HeaderLength;
            tensors.AddRange(header.Tensors.Select(t => t with { File = file }));
        }

        return new SafetensorsHeader(new ReadOnlyDictionary<string, string>(index.Metadata), tensors, headerLength);
    }

    /// <summary>Reads the header of one safetensors file held in a seekable stream (left open).</summary>
    /// <param name="stream">A readable, seekable stream; the file is its whole content.</param>
    /// <returns>The header.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stream"/> is null.</exception>
    /// <exception cref="ArgumentException">The stream cannot seek.</exception>
    /// <exception cref="SafetensorsException">The header is malformed.</exception>
    public static SafetensorsHeader ReadHeaderFrom(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
            throw new ArgumentException("The stream must be seekable.", nameof(stream));
        using var source = ByteSource.FromStream(stream);
        return ToHeader(HeaderJson.Read(source));
    }

    /// <summary>The header of one file held in memory.</summary>
    internal static SafetensorsHeader ReadHeader(ReadOnlyMemory<byte> bytes)
    {
        using var source = ByteSource.FromMemory(bytes);
        return ToHeader(HeaderJson.Read(source));
    }

    private static SafetensorsHeader ToHeader(ParsedHeader h) =>
        new(
            new ReadOnlyDictionary<string, string>(h.Metadata ?? new SortedDictionary<string, string>(StringComparer.Ordinal)),
            h.Tensors,
            h.HeaderLength);

    private static State LoadPath(string path, Filter? filter)
    {
        var (isIndex, resolved) = Resolve(path);
        if (!isIndex)
        {
            using var source = ByteSource.OpenFile(resolved);
            return Read(source, filter);
        }

        var index = ShardIndex.Read(resolved);
        var dir = Path.GetDirectoryName(resolved)!;
        var loaded = new Loaded();
        foreach (var file in index.Files)
        {
            using var source = OpenShard(dir, file);
            var header = HeaderJson.Read(source);
            CheckShard(index, file, header);
            ReadLeaves(source, header, filter, loaded);
        }

        return loaded.Build(filter is null);
    }

    internal static State Read(ByteSource source, Filter? filter)
    {
        var header = HeaderJson.Read(source);
        var loaded = new Loaded();
        ReadLeaves(source, header, filter, loaded);
        return loaded.Build(filter is null);
    }

    /// <summary>The leaves and empty sub-states read so far, with the tensor names they came from.</summary>
    private sealed class Loaded
    {
        public List<(KeyPath Path, object? Leaf, string Name)> Leaves { get; } = [];

        public List<(KeyPath Path, string Name)> Empties { get; } = [];

        public State Build(bool withEmpties)
        {
            var byPath = Leaves.OrderBy(l => l.Path).ToList();
            for (var i = 1; i < byPath.Count; i++)
            {
                var (prev, next) = (byPath[i - 1], byPath[i]);
                if (next.Path.StartsWith(prev.Path))
                {
                    var how = next.Path.Equals(prev.Path) ? "both name the path" : "name a leaf and a path inside it:";
                    throw new SafetensorsException(
                        SafetensorsError.DuplicateName,
                        $"The tensors '{prev.Name}' and '{next.Name}' {how} {prev.Path.ToTupleString()}"
                        + (next.Path.Equals(prev.Path) ? "." : $" and {next.Path.ToTupleString()}."),
                        next.Name);
                }
            }

            var state = State.FromFlatState(byPath.Select(l => (l.Path, l.Leaf)));
            if (!withEmpties)
                return state;
            foreach (var (path, name) in Empties)
            {
                if (state.TryGetValue(path, out _))
                    throw new SafetensorsException(
                        SafetensorsError.InvalidHeaderDeserialization,
                        $"The structure record lists '{name}' as an empty sub-state, but the file has something at {path.ToTupleString()}.",
                        name);
                try
                {
                    state = state.SetItem(path, State.Empty);
                }
                catch (ArgumentException e)
                {
                    throw new SafetensorsException(
                        SafetensorsError.InvalidHeaderDeserialization,
                        $"The structure record lists '{name}' as an empty sub-state inside a leaf.",
                        name,
                        e);
                }
            }

            return state;
        }
    }

    private static void ReadLeaves(ByteSource source, ParsedHeader header, Filter? filter, Loaded loaded)
    {
        Structure.Record? record = null;
        if (header.Metadata is not null && header.Metadata.TryGetValue(StructureKey, out var json))
        {
            record = Structure.Read(json);
            var names = header.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var name in record.Leaves.Keys)
            {
                if (!names.Contains(name))
                    throw new SafetensorsException(
                        SafetensorsError.InvalidHeaderDeserialization,
                        $"The structure record describes the tensor '{name}', which the file does not have.",
                        name);
            }

            foreach (var name in record.Empty)
                loaded.Empties.Add((TensorNames.Parse(name), name));
        }

        foreach (var info in header.Tensors)
        {
            var path = TensorNames.Parse(info.Name);
            var spec = record is not null && record.Leaves.TryGetValue(info.Name, out var s) ? s : LeafSpec.Default;
            var dtype = Dtypes.Get(info.Dtype);
            var kind = spec.Kind ?? Structure.DefaultKind(dtype, info.Shape);
            object? leaf;
            if (filter is null)
            {
                var value = TensorCodec.Read(source, header.DataStart, info, dtype, kind);
                leaf = spec.Type is null ? value : Structure.Create(spec.Type, value, spec.Metadata, info.Name);
            }
            else
            {
                var probe = spec.Type is null ? (object)info : Structure.Create(spec.Type, info, spec.Metadata, info.Name);
                if (!filter.Matches(path, probe))
                    continue;
                var value = TensorCodec.Read(source, header.DataStart, info, dtype, kind);
                leaf = probe is Variable v ? v.WithValue(value) : value;
            }

            loaded.Leaves.Add((path, leaf, info.Name));
        }
    }

    // ---- paths and shards ------------------------------------------------------------------

    private static (bool IsIndex, string Path) Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            var indexes = Directory.GetFiles(full, "*.safetensors.index.json");
            if (indexes.Length > 0)
                return (true, Pick(full, indexes, "model.safetensors.index.json", "index files"));
            var files = Directory.GetFiles(full, "*.safetensors");
            if (files.Length > 0)
                return (false, Pick(full, files, "model.safetensors", "safetensors files"));
            throw new FileNotFoundException($"The folder '{full}' holds no safetensors checkpoint.", full);
        }

        if (File.Exists(full))
            return (full.EndsWith(".json", StringComparison.OrdinalIgnoreCase), full);
        if (File.Exists(full + ".index.json"))
            return (true, full + ".index.json");
        throw new FileNotFoundException($"There is no checkpoint at '{full}'.", full);
    }

    private static string Pick(string dir, string[] candidates, string preferred, string what)
    {
        if (candidates.Length == 1)
            return candidates[0];
        var p = Path.Combine(dir, preferred);
        if (candidates.Contains(p))
            return p;
        throw new ArgumentException(
            $"The folder '{dir}' holds several {what} ({string.Join(", ", candidates.Select(Path.GetFileName).Order(StringComparer.Ordinal))}); name one.",
            "path");
    }

    private static ByteSource OpenShard(string dir, string file)
    {
        var path = Path.Combine(dir, file);
        if (!File.Exists(path))
            throw new SafetensorsException(SafetensorsError.InvalidIndex, $"The index lists the shard '{file}', which does not exist.");
        return ByteSource.OpenFile(path);
    }

    private static void CheckShard(ShardIndex index, string file, ParsedHeader header)
    {
        // Indexes written by other tools carry no save id; ours must match every shard's.
        if (index.Metadata.TryGetValue(SaveIdKey, out var saveId)
            && (header.Metadata is null || !header.Metadata.TryGetValue(SaveIdKey, out var shardId) || shardId != saveId))
        {
            throw new SafetensorsException(
                SafetensorsError.InvalidIndex,
                $"The shard '{file}' was not written by the same save as its index (a save interrupted while it replaced the files?).");
        }

        var listed = index.TensorsOf(file);
        var present = header.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in listed)
        {
            if (!present.Contains(name))
                throw new SafetensorsException(
                    SafetensorsError.InvalidIndex,
                    $"The index puts the tensor '{name}' in '{file}', which does not hold it.",
                    name);
        }

        foreach (var t in header.Tensors)
        {
            if (!listed.Contains(t.Name))
                throw new SafetensorsException(
                    SafetensorsError.InvalidIndex,
                    $"The shard '{file}' holds the tensor '{t.Name}', which the index does not put there.",
                    t.Name);
        }
    }
}
