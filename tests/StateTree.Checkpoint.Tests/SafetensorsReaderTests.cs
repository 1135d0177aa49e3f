using System.Numerics.Tensors;
using static StateTree.Checkpoint.Tests.StGen;

namespace StateTree.Checkpoint.Tests;

/// <summary>The reader refuses every malformed file with the reference's reason, naming the tensor.</summary>
public sealed class SafetensorsReaderTests
{
    private static SafetensorsException Refused(byte[] file, SafetensorsError reason)
    {
        var e = Assert.Throws<SafetensorsException>(() => Safetensors.Read(file));
        Assert.Equal(reason, e.Reason);
        // ReadHeader is as strict as Load.
        Assert.Equal(reason, Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(file)).Reason);
        return e;
    }

    private const string OneF32 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    [Fact]
    public void A_valid_hand_written_file_loads()
    {
        var state = Safetensors.Read(File(OneF32, new byte[8]));
        Assert.Equal(new float[] { 0, 0 }, ((Tensor<float>)state["w"]!).ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void HeaderTooSmall(int length) => Refused(new byte[length], SafetensorsError.HeaderTooSmall);

    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 63)]
    public void HeaderTooLarge(ulong declared) => Refused(FileRaw(Utf8("{}      "), null, declared), SafetensorsError.HeaderTooLarge);

    [Fact]
    public void A_header_of_exactly_the_limit_is_not_too_large_but_must_fit_in_the_file() =>
        Refused(FileRaw(Utf8("{}      "), null, 100_000_000), SafetensorsError.InvalidHeaderLength);

    [Fact]
    public void InvalidHeaderLength() => Refused(FileRaw(Utf8("{}      "), null, 9), SafetensorsError.InvalidHeaderLength);

    [Fact]
    public void InvalidHeader_for_bad_UTF8() =>
        Refused(FileRaw([(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', 1, (byte)'}']), SafetensorsError.InvalidHeader);

    [Theory]
    [InlineData(" {}     ")]
    [InlineData("\n{}     ")]
    [InlineData("[]      ")]
    [InlineData("")]
    public void InvalidHeaderStart(string header) => Refused(FileRaw(Utf8(header)), SafetensorsError.InvalidHeaderStart);

    [Theory]
    [InlineData("{not json}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}")]
    [InlineData("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":[1]}")]
    [InlineData("{\"__metadata__\":{\"a\":1}}")]
    [InlineData("{\"__metadata__\":[]}")]
    [InlineData("{\"__metadata__\":{\"a\":\"x\",\"a\":\"y\"}}")]
    [InlineData("{}x")]
    [InlineData("{}{}")]
    [InlineData("{,}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],}}")]
    [InlineData("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}")]
    [InlineData("{/*c*/}")]
    public void InvalidHeaderDeserialization(string header) =>
        Refused(File(header, new byte[8]), SafetensorsError.InvalidHeaderDeserialization);

    [Fact]
    public void Unknown_fields_of_a_tensor_are_ignored_as_the_reference_does()
    {
        var state = Safetensors.Read(File("{\"w\":{\"extra\":{\"deep\":[1,2]},\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]));
        Assert.Single(state);
    }

    [Fact]
    public void Null_metadata_is_no_metadata()
    {
        var h = Safetensors.ReadHeader(File("{\"__metadata__\":null}"));
        Assert.Empty(h.Metadata);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", "b")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", "b")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "a")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", "b")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", "a")]
    public void InvalidOffset(string header, string tensor)
    {
        var e = Refused(File(header, new byte[12]), SafetensorsError.InvalidOffset);
        Assert.Contains($"'{tensor}'", e.Message);
        Assert.Equal(tensor, e.TensorName);
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[18446744073709551615],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,8]}}")]
    [InlineData("{\"w\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},\"v\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[8,8]}}")]
    public void TensorInvalidInfo(string header)
    {
        var e = Refused(File(header, new byte[8]), SafetensorsError.TensorInvalidInfo);
        Assert.NotNull(e.TensorName);
        Assert.Contains($"'{e.TensorName}'", e.Message);
    }

    [Fact]
    public void A_shape_of_more_than_1024_dimensions_is_refused_before_it_is_allocated()
    {
        var dims = string.Join(",", Enumerable.Repeat("1", 2000));
        Refused(File($"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[{dims}],\"data_offsets\":[0,1]}}}}", new byte[1]), SafetensorsError.TensorInvalidInfo);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(9)]
    [InlineData(0)]
    public void MetadataIncompleteBuffer(int dataBytes) => Refused(File(OneF32, new byte[dataBytes]), SafetensorsError.MetadataIncompleteBuffer);

    [Fact]
    public void Trailing_bytes_after_an_empty_header_are_refused() =>
        Refused(File("{}", [0]), SafetensorsError.MetadataIncompleteBuffer);

    [Fact]
    public void DuplicateName_for_a_repeated_tensor()
    {
        var e = Refused(
            File("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]),
            SafetensorsError.DuplicateName);
        Assert.Equal("w", e.TensorName);
    }

    [Fact]
    public void DuplicateName_for_names_that_address_the_same_path_or_a_leaf_and_its_inside()
    {
        var prefix = File("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a.b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]);
        var e = Assert.Throws<SafetensorsException>(() => Safetensors.Read(prefix));
        Assert.Equal(SafetensorsError.DuplicateName, e.Reason);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("'a.b'", e.Message);
        // Both names read as the key "a\b": a lenient backslash and an escaped one.
        var same = File("{\"a\\\\b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\\\\\\\\b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]);
        Assert.Equal(SafetensorsError.DuplicateName, Assert.Throws<SafetensorsException>(() => Safetensors.Read(same)).Reason);
        // ReadHeader does not split names, so it accepts both files.
        Assert.Equal(2, Safetensors.ReadHeader(same).Tensors.Count);
    }

    [Fact]
    public void UnsupportedDtype()
    {
        var e = Refused(File("{\"w\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", new byte[16]), SafetensorsError.UnsupportedDtype);
        Assert.Contains("'w'", e.Message);
        Refused(File("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), SafetensorsError.UnsupportedDtype);
    }

    [Fact]
    public void Offsets_may_come_in_any_header_order_and_zero_sized_tensors_anywhere()
    {
        var header = "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]},\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[3,3]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        var file = File(header, [1, 2, 3]);
        var h = Safetensors.ReadHeader(file);
        Assert.Equal(["a", "b", "z"], h.Tensors.Select(t => t.Name));
        var state = Safetensors.Read(file);
        Assert.Equal(new byte[] { 2, 3 }, ((Tensor<byte>)state["b"]!).ToArray());
        Assert.Equal([0, 5], ((Tensor<float>)state["z"]!).Lengths.ToArray().Select(x => (int)x));
    }

    [Fact]
    public void Bool_bytes_other_than_0_and_1_read_as_true()
    {
        var state = Safetensors.Read(File("{\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}", [0, 1, 2]));
        Assert.Equal(new[] { false, true, true }, ((Tensor<bool>)state["b"]!).ToArray());
    }

    [Fact]
    public void A_malformed_structure_record_is_InvalidHeaderDeserialization()
    {
        foreach (var record in new[]
                 {
                     "not json", "[]", "{}", "{\"version\":2}", "{\"version\":1,\"leaves\":[]}",
                     "{\"version\":1,\"leaves\":{\"missing\":{}}}", "{\"version\":1,\"leaves\":{\"w\":{\"kind\":\"weird\"}}}",
                     "{\"version\":1,\"leaves\":{\"w\":{\"type\":\"No.Such.Type, Nowhere\"}}}",
                     "{\"version\":1,\"leaves\":{\"w\":{\"type\":\"System.String, System.Private.CoreLib\"}}}",
                     "{\"version\":1,\"leaves\":{\"w\":{\"type\":\"Param\",\"metadata\":{\"m\":[\"i32\",\"x\"]}}}}",
                     "{\"version\":1,\"leaves\":{\"w\":{\"type\":\"Param\",\"metadata\":{\"m\":[\"i32\"]}}}}",
                     "{\"version\":1,\"leaves\":{\"w\":{\"kind\":\"scalar\"}}}",
                     "{\"version\":1,\"leaves\":{\"z\":{\"kind\":\"array\"}}}",
                     "{\"version\":1,\"leaves\":{\"w\":{\"metadata\":{\"m\":null}}}}",
                     "{\"version\":1,\"empty\":[\"w\"]}", "{\"version\":1,\"empty\":[\"w.x\"]}", "{\"version\":1,\"empty\":[1]}",
                 })
        {
            // "z" is empty but has a dimension no .NET array may have: as an array it must be refused, not thrown as OutOfMemoryException.
            var header = $"{{\"__metadata__\":{{\"statetree.structure\":{System.Text.Json.JsonSerializer.Serialize(record)}}},{OneF32[1..^1]},\"z\":{{\"dtype\":\"U8\",\"shape\":[0,2147483647],\"data_offsets\":[8,8]}}}}";
            var e = Assert.Throws<SafetensorsException>(() => Safetensors.Read(File(header, new byte[8])));
            Assert.Equal(SafetensorsError.InvalidHeaderDeserialization, e.Reason);
        }
    }

    [Fact]
    public void Foreign_files_load_as_tensors_with_dotted_names_split_and_integer_keys_restored()
    {
        var header = "{\"__metadata__\":{\"format\":\"pt\"}," +
                     "\"model.layers.0.self_attn.q_proj.weight\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[0,4]}," +
                     "\"model.layers.05.x\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[4,12]}," +
                     "\"model.layers.-3.x\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[12,14]}}";
        var data = new byte[14];
        data[0] = 0x80;
        data[1] = 0x3F;
        data[4] = 42;
        data[12] = 7;
        var state = Safetensors.Read(File(header, data));
        var weight = (Tensor<BFloat16>)state[KeyPath.Of("model", "layers", 0, "self_attn", "q_proj", "weight")]!;
        Assert.Equal(1.0f, (float)weight.ToArray()[0]);
        Assert.Equal(42L, state[KeyPath.Of("model", "layers", "05", "x")]);
        var raw = (RawTensor)state[KeyPath.Of("model", "layers", -3, "x")]!;
        Assert.Equal("F8_E4M3", raw.Dtype);
        Assert.Equal(new byte[] { 7, 0 }, raw.Data.ToArray());
    }
}
