using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Text;

namespace StateTree.Checkpoint.Tests;

/// <summary>The writer reproduces the reference implementation's bytes.</summary>
public sealed class SafetensorsWriterTests
{
    private static readonly SafetensorsOptions NoMetadata = new() { Metadata = new Dictionary<string, string>() };

    private static string HeaderOf(byte[] file)
    {
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return Encoding.UTF8.GetString(file, 8, n);
    }

    [Fact]
    public void Empty_state_without_metadata_is_the_reference_vector()
    {
        var bytes = Safetensors.ToBytes(State.Empty, NoMetadata);
        Assert.Equal("08000000000000007b7d202020202020", StGen.Hex(bytes));
    }

    [Fact]
    public void One_F32_tensor_is_the_reference_vector()
    {
        var values = new float[] { 0, 1, 2, 3, 4, 5 };
        var state = State.Empty.SetItem("attn0", Tensor.Create(values, [1, 1, 2, 3]));
        var bytes = Safetensors.ToBytes(state, NoMetadata);

        var expected = new List<byte>();
        expected.AddRange(Convert.FromHexString("4800000000000000"));
        expected.AddRange(Encoding.UTF8.GetBytes("{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}"));
        expected.AddRange(Encoding.ASCII.GetBytes("       "));
        foreach (var v in values)
            expected.AddRange(BitConverter.GetBytes(v));
        Assert.Equal(StGen.Hex(expected.ToArray()), StGen.Hex(bytes));
    }

    [Fact]
    public void The_same_vector_comes_from_an_array_a_Param_and_a_file()
    {
        var values = new float[] { 0, 1, 2, 3, 4, 5 };
        var fromTensor = Safetensors.ToBytes(State.Empty.SetItem("attn0", Tensor.Create(values, [1, 1, 2, 3])), NoMetadata);
        var md = new float[1, 1, 2, 3];
        Buffer.BlockCopy(values, 0, md, 0, 24);
        var noStructure = new SafetensorsOptions { Metadata = new Dictionary<string, string>(), StoreStructure = false };
        Assert.Equal(fromTensor, Safetensors.ToBytes(State.Empty.SetItem("attn0", md), noStructure));
        Assert.Equal(fromTensor, Safetensors.ToBytes(State.Empty.SetItem("attn0", new Param(md)), noStructure));

        var dir = Directory.CreateTempSubdirectory("st-writer-").FullName;
        try
        {
            var path = Path.Combine(dir, "model.safetensors");
            Safetensors.Save(State.Empty.SetItem("attn0", Tensor.Create(values, [1, 1, 2, 3])), path, NoMetadata);
            Assert.Equal(fromTensor, File.ReadAllBytes(path));
            Assert.Equal(["model.safetensors"], Directory.GetFiles(dir).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Default_metadata_is_format_pt_and_comes_first()
    {
        var bytes = Safetensors.ToBytes(State.Empty.SetItem("w", Tensor.Create(new float[] { 1 }, [1])));
        Assert.Equal(
            "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            HeaderOf(bytes).TrimEnd(' '));
        Assert.Equal(0, (bytes.Length - 8 - 4) % 8);
    }

    [Fact]
    public void Tensors_are_ordered_by_descending_dtype_alignment_then_by_name()
    {
        var state = State.Empty
            .SetItem("b_bool", new[] { true })
            .SetItem("a_u8", new byte[] { 1 })
            .SetItem("z_f64", new[] { 1.0 })
            .SetItem("y_u64", new ulong[] { 1 })
            .SetItem("c_i64", new long[] { 1 })
            .SetItem("d_f16", new[] { (Half)1 })
            .SetItem("e_bf16", new[] { BFloat16.FromSingle(1) })
            .SetItem("f_f32", new float[] { 1 })
            .SetItem("g_f32", new float[] { 1 })
            .SetItem("h_i32", new[] { 1 })
            .SetItem("i_u32", new uint[] { 1 })
            .SetItem("j_i16", new short[] { 1 })
            .SetItem("k_u16", new ushort[] { 1 })
            .SetItem("l_i8", new sbyte[] { 1 })
            .SetItem("m_f8", new RawTensor("F8_E4M3", [1], [1]))
            .SetItem("n_c64", new RawTensor("C64", [1], new byte[8]));
        var header = Safetensors.ReadHeader(Safetensors.ToBytes(state, NoMetadata));
        Assert.Equal(
            ["y_u64", "c_i64", "z_f64", "n_c64", "f_f32", "g_f32", "i_u32", "h_i32", "e_bf16", "d_f16", "k_u16", "j_i16", "m_f8", "l_i8", "a_u8", "b_bool"],
            header.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Name_ties_break_by_UTF8_bytes_not_UTF16_code_units()
    {
        // U+E000 is 0xEE 0x80 0x80 in UTF-8, before the emoji's 0xF0 0x9F; in UTF-16 the emoji's 0xD83D comes first.
        var state = State.Empty.SetItem("\ud83d\ude00", new float[] { 1 }).SetItem("\ue000", new float[] { 2 });
        var header = Safetensors.ReadHeader(Safetensors.ToBytes(state, NoMetadata));
        Assert.Equal(["\ue000", "\ud83d\ude00"], header.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Strings_escape_only_quote_backslash_and_control_characters_like_serde_json()
    {
        var metadata = new Dictionary<string, string>
        {
            ["z"] = "q\"b\\n\nt\tc\u0001d\u007fé\ud83d\ude00/<>&'",
            ["a"] = "\b\f\r\u001f",
        };
        var bytes = Safetensors.ToBytes(State.Empty, new SafetensorsOptions { Metadata = metadata });
        Assert.Equal(
            "{\"__metadata__\":{\"a\":\"\\b\\f\\r\\u001f\",\"z\":\"q\\\"b\\\\n\\nt\\tc\\u0001d\u007fé\ud83d\ude00/<>&'\"}}",
            HeaderOf(bytes).TrimEnd(' '));
        Assert.Equal(metadata, Safetensors.ReadHeader(bytes).Metadata);
    }

    [Fact]
    public void Metadata_keys_are_sorted_ordinally()
    {
        var metadata = new Dictionary<string, string> { ["b"] = "1", ["B"] = "2", ["a"] = "3", ["_"] = "4" };
        var header = HeaderOf(Safetensors.ToBytes(State.Empty, new SafetensorsOptions { Metadata = metadata }));
        Assert.StartsWith("{\"__metadata__\":{\"B\":\"2\",\"_\":\"4\",\"a\":\"3\",\"b\":\"1\"}}", header);
    }

    [Fact]
    public void Header_is_padded_with_spaces_to_a_multiple_of_8()
    {
        for (var i = 0; i < 16; i++)
        {
            var state = State.Empty.SetItem(new string('k', i + 1), new byte[] { 1 });
            var bytes = Safetensors.ToBytes(state, NoMetadata);
            var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0, n % 8);
            var text = Encoding.UTF8.GetString(bytes, 8, n);
            Assert.EndsWith("}", text.TrimEnd(' '));
            Assert.True(n - text.TrimEnd(' ').Length < 8);
        }
    }

    [Fact]
    public void Data_is_row_major_little_endian()
    {
        var md = new short[,] { { 1, 2 }, { 3, -1 } };
        var bytes = Safetensors.ToBytes(State.Empty.SetItem("m", md), NoMetadata);
        Assert.Equal("010002000300ffff", StGen.Hex(bytes[^8..]));

        var bf = BFloat16.FromSingle(1.0f); // 0x3F80
        bytes = Safetensors.ToBytes(State.Empty.SetItem("b", bf), NoMetadata);
        Assert.Equal("803f", StGen.Hex(bytes[^2..]));
        Assert.Contains("\"shape\":[]", HeaderOf(bytes));
    }

    [Fact]
    public void Strided_and_sliced_tensors_are_written_in_logical_order()
    {
        var t = Tensor.Create(new int[] { 0, 1, 2, 3, 4, 5, 6, 7, 8 }, [3, 3]);
        var columns = t.Slice([new System.Buffers.NRange(0, 3), new System.Buffers.NRange(1, 3)]); // not dense
        var rows = t.Slice([new System.Buffers.NRange(1, 3), new System.Buffers.NRange(0, 3)]); // dense, offset
        var state = State.Empty.SetItem("c", columns).SetItem("r", rows);
        var loaded = Safetensors.Read(Safetensors.ToBytes(state, NoMetadata));
        Assert.Equal(new[] { 1, 2, 4, 5, 7, 8 }, ((Tensor<int>)loaded["c"]!).ToArray());
        Assert.Equal(new[] { 3, 4, 5, 6, 7, 8 }, ((Tensor<int>)loaded["r"]!).ToArray());
    }

    [Fact]
    public void Unstorable_leaves_are_all_listed()
    {
        var state = State.Empty
            .SetItem("a", "text")
            .SetItem(KeyPath.Of("b", 0), new Param(null))
            .SetItem("c", new float[] { 1 })
            .SetItem("d", new decimal[] { 1 });
        var e = Assert.Throws<ArgumentException>(() => Safetensors.ToBytes(state));
        Assert.Contains("('a',)", e.Message);
        Assert.Contains("('b', 0)", e.Message);
        Assert.Contains("('d',)", e.Message);
        Assert.DoesNotContain("('c',)", e.Message);
    }

    [Fact]
    public void Unstorable_metadata_and_broken_strings_are_refused()
    {
        var bad = State.Empty.SetItem("a", new Param(1f).WithMetadata("m", new object()));
        Assert.Throws<ArgumentException>(() => Safetensors.ToBytes(bad));
        Assert.NotNull(Safetensors.ToBytes(bad, new SafetensorsOptions { StoreStructure = false }));
        Assert.Throws<ArgumentException>(() => Safetensors.ToBytes(State.Empty.SetItem("\ud800", 1f)));
        Assert.Throws<ArgumentException>(() => Safetensors.ToBytes(State.Empty.SetItem("\ud800", State.Empty)));
        Assert.Throws<ArgumentException>(() => Safetensors.ToBytes(State.Empty.SetItem("t", Tensor<float>.Empty)));
        Assert.Throws<ArgumentException>(() => Safetensors.ToBytes(State.Empty, new SafetensorsOptions { Metadata = new Dictionary<string, string> { ["k"] = "\udc00" } }));
    }

    [Fact]
    public void Empty_metadata_writes_no_metadata_unless_a_structure_record_is_needed()
    {
        var bare = State.Empty.SetItem("w", Tensor.Create(new float[] { 1 }, [1])).SetItem("s", 2.0);
        Assert.DoesNotContain("__metadata__", HeaderOf(Safetensors.ToBytes(bare, NoMetadata)));
        // An array is not what a foreign reader gives back: the record says so.
        Assert.Contains("\\\"kind\\\":\\\"array\\\"", HeaderOf(Safetensors.ToBytes(State.Empty.SetItem("w", new float[] { 1 }), NoMetadata)));
        var withParam = State.Empty.SetItem("w", new Param(new float[] { 1 }));
        var header = HeaderOf(Safetensors.ToBytes(withParam, NoMetadata));
        Assert.StartsWith("{\"__metadata__\":{\"statetree.structure\":", header);
        Assert.DoesNotContain("format", header);
    }

    [Fact]
    public void A_state_of_bare_tensors_gets_no_structure_record()
    {
        var state = State.Empty.SetItem(KeyPath.Of("layers", 0, "w"), Tensor.Create(new float[] { 1, 2 }, [2])).SetItem("step", 3L);
        var header = Safetensors.ReadHeader(Safetensors.ToBytes(state));
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, header.Metadata);
    }

    [Fact]
    public void A_stale_structure_record_in_the_given_metadata_is_replaced_or_dropped()
    {
        var stale = new Dictionary<string, string> { ["format"] = "pt", [Safetensors.StructureKey] = "{\"version\":1,\"leaves\":{\"gone\":{}}}" };
        var state = State.Empty.SetItem("w", Tensor.Create(new float[] { 1 }, [1]));
        var bytes = Safetensors.ToBytes(state, new SafetensorsOptions { Metadata = stale });
        Assert.False(Safetensors.ReadHeader(bytes).Metadata.ContainsKey(Safetensors.StructureKey));
        Assert.Equal(state.Flatten().Count, Safetensors.Read(bytes).Flatten().Count);
    }
}
