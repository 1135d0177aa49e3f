using System.Numerics.Tensors;
using System.Text;

namespace StateTree.Checkpoint.Tests;

/// <summary>Files on disk: ReadHeader, partial loads, sharding, folders and indexes.</summary>
public sealed class SafetensorsFileTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("st-files-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    private string[] Files() => Directory.GetFiles(folder).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Four layers of 40 bytes each plus a step counter.</summary>
    private static State Model() =>
        Enumerable.Range(0, 4).Aggregate(
            State.Empty.SetItem("step", new OptState(12L)),
            (s, i) => s
                .SetItem(KeyPath.Of("layers", i, "kernel"), new Param(Tensor.Create(Enumerable.Range(0, 8).Select(x => (float)(x + i)).ToArray(), [2, 4])))
                .SetItem(KeyPath.Of("layers", i, "bias"), new Param(new Half[] { (Half)i, (Half)1 })
                    .WithMetadata("tag", "b"))
                .SetItem(KeyPath.Of("layers", i, "mean"), new BatchStat(new double[] { i })));

    [Fact]
    public void ReadHeader_lists_tensors_in_offset_order_with_sizes_and_counts()
    {
        var path = PathOf("model.safetensors");
        Safetensors.Save(Model(), path);
        var header = Safetensors.ReadHeader(path);
        Assert.Equal("pt", header.Metadata["format"]);
        Assert.True(header.Metadata.ContainsKey(Safetensors.StructureKey));
        Assert.Equal(13, header.Tensors.Count);
        long expected = 0;
        foreach (var t in header.Tensors)
        {
            Assert.Equal(expected, t.Begin);
            expected = t.End;
            Assert.Null(t.File);
        }

        Assert.Equal(["step", "layers.0.mean"], header.Tensors.Take(2).Select(t => t.Name)); // I64, then F64
        Assert.Equal(4 * (8 + 2 + 1) + 1, header.ParameterCount);
        Assert.Equal(4 * (32 + 4 + 8) + 8, header.DataLength);
        Assert.Equal(new FileInfo(path).Length, 8 + header.HeaderLength + header.DataLength);
        var kernel = header.Tensors.Single(t => t.Name == "layers.2.kernel");
        Assert.Equal("F32", kernel.Dtype);
        Assert.Equal([2L, 4], kernel.Shape);
        Assert.Equal(8, kernel.ElementCount);
        Assert.Equal(32, kernel.ByteLength);
    }

    [Fact]
    public void TensorInfo_compares_shapes_by_element()
    {
        var h = Safetensors.ReadHeader(Safetensors.ToBytes(State.Empty.SetItem("attn0", Tensor.Create(new float[6], [1, 1, 2, 3]))));
        Assert.Equal(new TensorInfo("attn0", "F32", [1, 1, 2, 3], 0, 24), Assert.Single(h.Tensors));
        Assert.NotEqual(new TensorInfo("attn0", "F32", [1, 1, 6], 0, 24), h.Tensors[0]);
        Assert.Equal(new TensorInfo("a", "U8", [2], 0, 2).GetHashCode(), new TensorInfo("a", "U8", [2], 0, 2).GetHashCode());
        Assert.Equal("attn0: F32[1,1,2,3] @ [0, 24)", h.Tensors[0].ToString());
    }

    [Fact]
    public void Load_of_Save_through_a_file_a_folder_and_a_stream()
    {
        var path = PathOf("model.safetensors");
        var model = Model().SetItem("nothing", State.Empty);
        Safetensors.Save(model, path);
        Assert.Equal(model, Safetensors.Load(path));
        Assert.Equal(model, Safetensors.Load(folder));
        using var stream = File.OpenRead(path);
        Assert.Equal(model, Safetensors.Read(stream));
        Assert.Equal(Safetensors.ReadHeader(path).Tensors, Safetensors.ReadHeaderFrom(stream).Tensors);
        using var memory = new MemoryStream();
        Safetensors.Write(model, memory);
        Assert.Equal(File.ReadAllBytes(path), memory.ToArray());
    }

    [Fact]
    public void User_Variable_types_come_back_by_name()
    {
        var state = State.Empty
            .SetItem("lora", new StLoraParam(new float[] { 1 }).WithMetadata("rank", 4))
            .SetItem("count", new StCounter().WithValue(3).WithMetadata("tag", "steps"));
        var path = PathOf("model.safetensors");
        Safetensors.Save(state, path);
        var loaded = Safetensors.Load(path);
        Assert.Equal(state, loaded);
        Assert.IsType<StLoraParam>(loaded["lora"]);
        Assert.IsType<StCounter>(loaded["count"]);
    }

    [Fact]
    public void A_partial_load_reads_only_the_matching_tensors_bytes()
    {
        var bytes = Safetensors.ToBytes(Model());
        var header = Safetensors.ReadHeader(bytes);
        using var source = new CountingSource(bytes);
        var filter = Filter.PathContains(1) & Filter.OfType<Param>();
        var state = Safetensors.Read(source, filter);
        Assert.Equal(Safetensors.Read(bytes).Filter(filter), state);
        var dataStart = 8 + header.HeaderLength;
        var wanted = header.Tensors.Where(t => t.Name is "layers.1.kernel" or "layers.1.bias")
            .Select(t => (dataStart + t.Begin, dataStart + t.End)).ToHashSet();
        var dataReads = source.Reads.Where(r => r.Offset >= dataStart).Select(r => (r.Offset, r.Offset + r.Length)).ToHashSet();
        Assert.Equal(wanted, dataReads);
    }

    [Fact]
    public void A_partial_load_filter_sees_TensorInfo_values()
    {
        var path = PathOf("model.safetensors");
        Safetensors.Save(Model(), path);
        var halves = Safetensors.Load(path, Filter.Where((_, leaf) => leaf is Variable { Value: TensorInfo { Dtype: "F16" } }));
        Assert.Equal(4, halves.LeafCount);
        Assert.All(halves.Flatten(), p => Assert.IsType<Half[]>(((Param)p.Leaf!).Value));
        var bare = PathOf("bare.safetensors");
        Safetensors.Save(Model(), bare, new SafetensorsOptions { StoreStructure = false });
        var f64 = Safetensors.Load(bare, Filter.Where((_, leaf) => leaf is TensorInfo { Dtype: "F64" }));
        Assert.Equal(4, f64.LeafCount);
        Assert.Equal(Safetensors.Load(bare).Filter(Filter.OfType<Tensor<double>>()), f64);
    }

    [Fact]
    public void Offsets_beyond_4_GiB_are_read_with_64_bit_positions()
    {
        // A sparse file: 5 GB of zeros cost nothing on Linux and macOS file systems; elsewhere, skip.
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return;
        const long Big = 5_000_000_000;
        var header = $"{{\"big\":{{\"dtype\":\"U8\",\"shape\":[{Big}],\"data_offsets\":[0,{Big}]}},\"small\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[{Big},{Big + 8}]}}}}";
        var headerBytes = StGen.File(header)[8..];
        var path = PathOf("sparse.safetensors");
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            fs.Write(BitConverter.GetBytes((ulong)headerBytes.Length));
            fs.Write(headerBytes);
            fs.SetLength(8 + headerBytes.Length + Big + 8);
            fs.Position = 8 + headerBytes.Length + Big;
            fs.Write(BitConverter.GetBytes(1.5f));
            fs.Write(BitConverter.GetBytes(-2f));
        }

        var info = Safetensors.ReadHeader(path);
        Assert.Equal(Big + 8, info.DataLength);
        Assert.Equal(Big, info.Tensors[1].Begin);
        var small = Safetensors.Load(path, Filter.PathIn(KeyPath.Of("small")));
        Assert.Equal(new[] { 1.5f, -2f }, ((Tensor<float>)small["small"]!).ToArray());
        // The big tensor does not fit a .NET array: a refusal, not an OutOfMemoryException.
        var e = Assert.Throws<SafetensorsException>(() => Safetensors.Load(path));
        Assert.Equal(SafetensorsError.TensorInvalidInfo, e.Reason);
        Assert.Equal("big", e.TensorName);
    }

    [Fact]
    public void A_shard_from_another_save_is_refused_not_mixed_in()
    {
        // What a crash between the renames of a sharded save can leave: one new shard beside the old index.
        var path = PathOf("model.safetensors");
        var model = Model();
        Safetensors.Save(model, path, new SafetensorsOptions { MaxShardBytes = 100 });
        var shard = Files().First(f => f.StartsWith("model-00001-", StringComparison.Ordinal));
        var first = File.ReadAllBytes(PathOf(shard));
        var changed = model.Map((_, leaf) => leaf is Variable v && v.Value is float[] a ? v.WithValue(a.Select(x => x + 1).ToArray()) : leaf);
        Safetensors.Save(changed, path, new SafetensorsOptions { MaxShardBytes = 100 });
        Assert.Equal(changed, Safetensors.Load(folder));

        File.WriteAllBytes(PathOf(shard), first);
        var e = Assert.Throws<SafetensorsException>(() => Safetensors.Load(folder));
        Assert.Equal(SafetensorsError.InvalidIndex, e.Reason);
        Assert.Contains(shard, e.Message);
        Assert.Equal(SafetensorsError.InvalidIndex, Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(folder)).Reason);
    }

    [Fact]
    public void Sharded_save_writes_Hugging_Face_shards_and_an_index()
    {
        var path = PathOf("model.safetensors");
        var model = Model();
        Safetensors.Save(model, path, new SafetensorsOptions { MaxShardBytes = 100 });
        var files = Files();
        Assert.DoesNotContain("model.safetensors", files);
        Assert.Contains("model.safetensors.index.json", files);
        var shards = files.Where(f => f.StartsWith("model-", StringComparison.Ordinal)).ToArray();
        Assert.True(shards.Length >= 2);
        Assert.All(shards, s => Assert.Matches($@"^model-\d{{5}}-of-{shards.Length:D5}\.safetensors$", s));
        Assert.DoesNotContain(files, f => f.EndsWith(".tmp", StringComparison.Ordinal));

        Assert.Equal(model, Safetensors.Load(PathOf("model.safetensors.index.json")));
        Assert.Equal(model, Safetensors.Load(folder));
        Assert.Equal(model, Safetensors.Load(path));
        Assert.Equal(model.Filter(Filter.OfType<BatchStat>()), Safetensors.Load(folder, Filter.OfType<BatchStat>()));

        var header = Safetensors.ReadHeader(folder);
        Assert.Equal(13, header.Tensors.Count);
        Assert.All(header.Tensors, t => Assert.Contains(t.File, shards));
        Assert.Equal(Safetensors.ReadHeader(Safetensors.ToBytes(model)).DataLength, long.Parse(header.Metadata["total_size"]));
        foreach (var shard in shards)
        {
            var h = Safetensors.ReadHeader(PathOf(shard));
            Assert.True(h.DataLength <= 100 || h.Tensors.Count == 1);
        }
    }

    [Fact]
    public void The_index_is_written_as_transformers_writes_it()
    {
        var state = State.Empty.SetItem("b", new byte[] { 1, 2 }).SetItem("a", new byte[] { 3 }).SetItem("é", new byte[] { 4, 5 });
        Safetensors.Save(state, PathOf("model.safetensors"), new SafetensorsOptions { MaxShardBytes = 2 });
        var text = File.ReadAllText(PathOf("model.safetensors.index.json"));
        // json.dumps(index, indent=2, sort_keys=True): our save id sorts before total_size.
        var saveId = Safetensors.ReadHeader(PathOf("model-00001-of-00003.safetensors")).Metadata[Safetensors.SaveIdKey];
        Assert.Matches("^[0-9a-f]{32}$", saveId);
        Assert.Equal(
            "{\n  \"metadata\": {\n    \"statetree.save_id\": \"" + saveId + "\",\n    \"total_size\": 5\n  },\n  \"weight_map\": {\n" +
            "    \"a\": \"model-00001-of-00003.safetensors\",\n" +
            "    \"b\": \"model-00002-of-00003.safetensors\",\n" +
            "    \"\\u00e9\": \"model-00003-of-00003.safetensors\"\n  }\n}\n",
            text);
    }

    [Fact]
    public void A_tensor_larger_than_the_limit_gets_a_shard_of_its_own()
    {
        var state = State.Empty.SetItem("a", new byte[10]).SetItem("b", new byte[1]).SetItem("c", new byte[1]);
        Safetensors.Save(state, PathOf("model.safetensors"), new SafetensorsOptions { MaxShardBytes = 4 });
        Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"], Files());
        Assert.Equal(["a"], Safetensors.ReadHeader(PathOf("model-00001-of-00002.safetensors")).Tensors.Select(t => t.Name));
        Assert.Equal(state, Safetensors.Load(folder));
    }

    [Fact]
    public void What_fits_in_one_shard_is_a_plain_file_and_saves_replace_stale_layouts()
    {
        var path = PathOf("model.safetensors");
        var model = Model();
        Safetensors.Save(model, path, new SafetensorsOptions { MaxShardBytes = 60 });
        var manyShards = Files().Length - 1;
        Assert.True(manyShards > 2);

        // Fewer shards: the extra old ones go.
        Safetensors.Save(model, path, new SafetensorsOptions { MaxShardBytes = 120 });
        var fewer = Files();
        Assert.True(fewer.Length - 1 < manyShards);
        Assert.All(fewer.Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal)), f => Assert.Contains($"-of-{fewer.Length - 1:D5}", f));
        Assert.Equal(model, Safetensors.Load(folder));

        // Fits: one plain file, the index and shards removed.
        Safetensors.Save(model, path, new SafetensorsOptions { MaxShardBytes = 1 << 20 });
        Assert.Equal(["model.safetensors"], Files());
        Assert.Equal(model, Safetensors.Load(folder));

        // Sharded again: the stale single file is removed.
        Safetensors.Save(model, path, new SafetensorsOptions { MaxShardBytes = 100 });
        Assert.DoesNotContain("model.safetensors", Files());
        Assert.Equal(model, Safetensors.Load(path));
    }

    [Fact]
    public void Every_listed_tensor_must_be_in_its_shard()
    {
        Safetensors.Save(Model(), PathOf("model.safetensors"), new SafetensorsOptions { MaxShardBytes = 100 });
        var indexPath = PathOf("model.safetensors.index.json");
        var index = File.ReadAllText(indexPath);

        void Refused(string text, string? tensor = null)
        {
            File.WriteAllText(indexPath, text);
            var e = Assert.Throws<SafetensorsException>(() => Safetensors.Load(folder));
            Assert.Equal(SafetensorsError.InvalidIndex, e.Reason);
            if (tensor is not null)
                Assert.Contains($"'{tensor}'", e.Message);
            Assert.Equal(SafetensorsError.InvalidIndex, Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(indexPath)).Reason);
        }

        // A tensor moved to a shard that does not hold it.
        var first = "model-00001-of-";
        var line = index.Split('\n').First(l => l.Contains(first, StringComparison.Ordinal) && l.Contains("layers", StringComparison.Ordinal));
        var name = line.Trim().Split('"')[1];
        Refused(index.Replace(line, line.Replace("model-00001-of-", "model-00002-of-", StringComparison.Ordinal), StringComparison.Ordinal), name);
        // A tensor the index does not list.
        Refused(index.Replace(line + "\n", "", StringComparison.Ordinal).Replace(line.TrimEnd(','), "", StringComparison.Ordinal));
        // A listed tensor no shard has.
        var firstShard = Path.GetFileName(Directory.GetFiles(folder, "model-00001-of-*.safetensors").Single());
        Refused(index.Replace("\"weight_map\": {", $"\"weight_map\": {{\n    \"ghost\": \"{firstShard}\",", StringComparison.Ordinal), "ghost");
        // A missing shard, a path outside the folder, bad JSON, no weight map.
        Refused(index.Replace("model-00001-of-", "model-09999-of-", StringComparison.Ordinal));
        Refused(index.Replace("\"model-00001-of-", "\"../model-00001-of-", StringComparison.Ordinal));
        Refused("{\"weight_map\": [}");
        Refused("{\"metadata\": {}}");
        Refused("{\"weight_map\": {\"a\": 1}}", "a");
        Refused("[]");
    }

    [Fact]
    public void Folders_with_nothing_or_several_checkpoints_are_refused()
    {
        Assert.Throws<FileNotFoundException>(() => Safetensors.Load(folder));
        Assert.Throws<FileNotFoundException>(() => Safetensors.Load(PathOf("none.safetensors")));
        var state = State.Empty.SetItem("w", 1f);
        Safetensors.Save(state, PathOf("a.safetensors"));
        Assert.Equal(state, Safetensors.Load(folder));
        Safetensors.Save(state, PathOf("b.safetensors"));
        Assert.Throws<ArgumentException>(() => Safetensors.Load(folder));
        Safetensors.Save(state, PathOf("model.safetensors"));
        Assert.Equal(state, Safetensors.Load(folder));
    }

    [Fact]
    public void Save_creates_missing_folders_and_checks_its_arguments()
    {
        var path = Path.Combine(folder, "deep", "er", "model.safetensors");
        Safetensors.Save(State.Empty.SetItem("w", 1.0), path);
        Assert.Equal(1.0, Safetensors.Load(path)["w"]);
        Assert.Throws<ArgumentNullException>(() => Safetensors.Save(null!, path));
        Assert.Throws<ArgumentNullException>(() => Safetensors.Load(null!));
        Assert.Throws<ArgumentNullException>(() => Safetensors.Load(path, null!));
        Assert.Throws<ArgumentException>(() => Safetensors.Save(State.Empty, path, new SafetensorsOptions { MaxShardBytes = 0 }));
        Assert.Throws<ArgumentException>(() => Safetensors.Write(State.Empty, new MemoryStream(), new SafetensorsOptions { MaxShardBytes = 10 }));
    }

    /// <summary>A byte source that records every read.</summary>
    private sealed class CountingSource(byte[] bytes) : ByteSource
    {
        private readonly ByteSource inner = FromMemory(bytes);

        public List<(long Offset, int Length)> Reads { get; } = [];

        public override long Length => inner.Length;

        public override void Read(long offset, Span<byte> destination)
        {
            Reads.Add((offset, destination.Length));
            inner.Read(offset, destination);
        }
    }
}

/// <summary>Tensor names and the BFloat16 type.</summary>
public sealed class TensorNamesAndBFloat16Tests
{
    [Theory]
    [InlineData("layers.0.kernel")]
    [InlineData("model.layers.17.self_attn.q_proj.weight")]
    [InlineData("a.-3.b")]
    public void Hugging_Face_names_split_into_keys(string name) =>
        Assert.Equal(name, TensorNames.Format(TensorNames.Parse(name)));

    [Fact]
    public void Escapes()
    {
        Assert.Equal("layers.0.kernel", TensorNames.Format(KeyPath.Of("layers", 0, "kernel")));
        Assert.Equal("layers.\\0.kernel", TensorNames.Format(KeyPath.Of("layers", "0", "kernel")));
        Assert.Equal("a\\.b.c", TensorNames.Format(KeyPath.Of("a.b", "c")));
        Assert.Equal("a\\\\b", TensorNames.Format(KeyPath.Of("a\\b")));
        Assert.Equal("\\-3.05", TensorNames.Format(KeyPath.Of("-3", "05")));
        Assert.Equal("a..b", TensorNames.Format(KeyPath.Of("a", "", "b")));
        Assert.Equal(KeyPath.Of("layers", "0", "kernel"), TensorNames.Parse("layers.\\0.kernel"));
        Assert.Equal(KeyPath.Of("layers", 0, "kernel"), TensorNames.Parse("layers.0.kernel"));
        Assert.Equal(KeyPath.Of("05", "+4", "-0", 2147483647, "2147483648"), TensorNames.Parse("05.+4.-0.2147483647.2147483648"));
        Assert.Equal(KeyPath.Of(""), TensorNames.Parse(""));
        Assert.Equal(KeyPath.Of("a\\b", "x\\"), TensorNames.Parse("a\\b.x\\"));
        Assert.Throws<ArgumentException>(() => TensorNames.Format(KeyPath.Empty));
    }

    [Fact]
    public void Keys_with_dots_never_collide_with_nested_paths()
    {
        var state = State.Empty
            .SetItem(KeyPath.Of("a.b"), 1)
            .SetItem(KeyPath.Of("a", "b"), 2)
            .SetItem(KeyPath.Of("0"), 3)
            .SetItem(KeyPath.Of(0), 4);
        var bytes = Safetensors.ToBytes(state);
        Assert.Equal(4, Safetensors.ReadHeader(bytes).Tensors.Select(t => t.Name).Distinct().Count());
        Assert.Equal(state, Safetensors.Read(bytes));
        Assert.Equal(state, Safetensors.Read(Safetensors.ToBytes(state, new SafetensorsOptions { StoreStructure = false })));
    }

    [Fact]
    public void BFloat16_conversions_round_to_nearest_even()
    {
        Assert.Equal(1.0f, (float)BFloat16.FromSingle(1.0f));
        Assert.Equal((ushort)0x3F80, BFloat16.FromSingle(1.0f).RawBits);
        Assert.Equal((ushort)0x3F80, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x3F808000)).RawBits); // tie, even stays
        Assert.Equal((ushort)0x3F82, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x3F818000)).RawBits); // tie, odd rounds up
        Assert.Equal((ushort)0x3F81, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x3F808001)).RawBits);
        Assert.Equal(float.PositiveInfinity, (float)BFloat16.FromSingle(float.MaxValue));
        Assert.True(BFloat16.IsNaN(BFloat16.FromSingle(float.NaN)));
        Assert.True(BFloat16.IsNaN(BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x7F800001))));
        Assert.Equal(-2.5f, (float)(BFloat16)(-2.5f));
        Assert.Equal(3.0, (double)BFloat16.FromSingle(3));
    }

    [Fact]
    public void BFloat16_equality_is_Half_like()
    {
        Assert.Equal(BFloat16.NaN, BFloat16.FromRawBits(0x7FC1));
        Assert.False(BFloat16.NaN == BFloat16.NaN);
        Assert.True(BFloat16.FromRawBits(0x8000) == BFloat16.Zero);
        Assert.Equal(BFloat16.FromRawBits(0x8000), BFloat16.Zero);
        Assert.Equal(BFloat16.FromRawBits(0x8000).GetHashCode(), BFloat16.Zero.GetHashCode());
        Assert.NotEqual(BFloat16.FromSingle(1), BFloat16.FromSingle(2));
        Assert.True(BFloat16.FromSingle(1) != BFloat16.FromSingle(2));
        Assert.True(BFloat16.FromSingle(1).CompareTo(BFloat16.FromSingle(2)) < 0);
        Assert.Equal("1.5", BFloat16.FromSingle(1.5f).ToString(null, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void RawTensor_checks_its_byte_length()
    {
        Assert.Throws<ArgumentException>(() => new RawTensor("F8_E4M3", [3], new byte[2]));
        Assert.Throws<ArgumentException>(() => new RawTensor("F4", [3], new byte[2]));
        Assert.Throws<ArgumentException>(() => new RawTensor("X", [1], new byte[1]));
        Assert.Throws<ArgumentException>(() => new RawTensor("U8", [-1], []));
        var raw = new RawTensor("F4", [4], new byte[2]);
        Assert.Equal(new RawTensor("F4", [4], new byte[2]), raw);
        Assert.Equal("F4[4]", raw.ToString());
    }
}
