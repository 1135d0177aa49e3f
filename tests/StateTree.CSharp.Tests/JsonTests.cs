using System.Text.Json;
using System.Text.Json.Nodes;

namespace StateTree.CSharp.Tests;

// SPEC §4.6 and §5: the pure-dict round trip through System.Text.Json, in its three reading styles.
public class JsonTests
{
    /// <summary>A model state whose values are all replaced by zeros of the same type: what a freshly built model holds.</summary>
    private static State Zeroed(State s) => s.Map((_, leaf) => leaf switch
    {
        Variable v => v.WithValue(Zero(v.Value)),
        var x => Zero(x),
    });

    private static object? Zero(object? value) => value switch
    {
        float[] a => new float[a.Length],
        float[][] a => a.Select(r => new float[r.Length]).ToArray(),
        double => 0.0,
        float => 0f,
        int => 0,
        bool => false,
        string => "",
        var x => x,
    };

    private static State Everything() => State.Create(new Models.Node
    {
        ["layers"] = new Models.Node
        {
            [0] = new Models.Node { ["kernel"] = new Param(new float[] { 0.5f, -1.25f }), ["bias"] = new Param(0.1) },
            [1] = new Models.Node { ["kernel"] = new MyParam(new float[][] { [1, 2], [3, 4, 5] }), ["bias"] = new Param(-2.5) },
        },
        ["bn"] = new Models.Node { ["count"] = new BatchStat(42), ["frozen"] = new BatchStat(true), ["name"] = new Cache("it's \"quoted\"") },
        ["step"] = 1000,
        ["lr"] = 0.001,
        ["float"] = 2.5f,
    });

    // ---- SPEC §5, verbatim ------------------------------------------------------------------

    [Fact]
    public void Spec_example_json_round_trip_of_the_BatchNorm_Linear_state()
    {
        var state = Models.BatchNormLinear();
        var pure = state.ToPureDict();
        string json = JsonSerializer.Serialize(pure);
        var restored = State.RestoreIntPaths(JsonSerializer.Deserialize<Dictionary<string, object?>>(json)!);
        State again = state.ReplaceByPureDict(restored);
        Assert.Equal(state, again);
    }

    [Fact]
    public void Spec_example_json_round_trip_into_a_fresh_model_restores_every_value_as_float_arrays()
    {
        var trained = Models.BatchNormLinear();
        string json = JsonSerializer.Serialize(trained.ToPureDict());
        var fresh = Zeroed(trained);
        Assert.NotEqual(trained, fresh);
        var restored = State.RestoreIntPaths(JsonSerializer.Deserialize<Dictionary<string, object?>>(json)!);
        var again = fresh.ReplaceByPureDict(restored);
        Assert.Equal(trained, again);
        Assert.All(again.Flatten(), e => Assert.IsType<float[]>(((Variable)e.Leaf!).Value));
    }

    [Fact]
    public void Spec_example_layers_with_int_keys()
    {
        var layers = State.Create(new Models.Node
        {
            [0] = new Models.Node { ["kernel"] = new Param(1) },
            [1] = new Models.Node { ["kernel"] = new Param(2) },
        });
        var pure = layers.ToPureDict();
        Assert.Equal(new object[] { 0, 1 }, pure.Keys.ToArray());
        var json = JsonSerializer.Serialize(pure);
        Assert.Equal("""{"0":{"kernel":1},"1":{"kernel":2}}""", json);
        var restored = State.RestoreIntPaths(JsonSerializer.Deserialize<Dictionary<string, object?>>(json)!);
        Assert.Equal(new object[] { 0, 1 }, restored.Keys.ToArray());
        Assert.All(restored.Keys, k => Assert.IsType<int>(k));
        var again = Zeroed(layers).ReplaceByPureDict(restored);
        Assert.Equal(layers, again);
        Assert.IsType<int>(((Variable)again[KeyPath.Of(1, "kernel")]!).Value);
    }

    // ---- every reading style ----------------------------------------------------------------

    [Fact]
    public void Round_trip_through_Dictionary_of_string_object()
    {
        var s = Everything();
        var json = JsonSerializer.Serialize(s.ToPureDict());
        var fromJson = JsonSerializer.Deserialize<Dictionary<string, object?>>(json)!;
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict(fromJson));
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict(State.RestoreIntPaths(fromJson)));
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict((IReadOnlyDictionary<string, object?>)fromJson));
    }

    [Fact]
    public void Round_trip_through_JsonDocument()
    {
        var s = Everything();
        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(s.ToPureDict()));
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict(doc.RootElement));
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict(State.RestoreIntPaths(doc.RootElement)));
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict(doc.RootElement, strict: true));
    }

    [Fact]
    public void Round_trip_through_JsonObject()
    {
        var s = Everything();
        JsonObject obj = JsonNode.Parse(JsonSerializer.Serialize(s.ToPureDict()))!.AsObject();
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict(obj));
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict(State.RestoreIntPaths(obj)));
        Assert.Equal(s, Zeroed(s).ReplaceByPureDict(obj, strict: true));
    }

    [Fact]
    public void Round_trip_through_a_JsonObject_built_in_code()
    {
        var s = Models.Layers();
        var obj = new JsonObject
        {
            ["0"] = new JsonObject { ["kernel"] = 10 },
            ["1"] = new JsonObject { ["kernel"] = 20 },
        };
        var r = s.ReplaceByPureDict(obj);
        Assert.Equal(new Param(10), r[KeyPath.Of(0, "kernel")]);
        Assert.Equal(new Param(20), r[KeyPath.Of(1, "kernel")]);
    }

    [Fact]
    public void The_stringified_round_trip_law_holds_for_JSON()
    {
        var s = Everything();
        var pure = s.ToPureDict();
        var fromJson = JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(pure))!;
        var restored = State.RestoreIntPaths(fromJson);
        Assert.Equal(
            new[] { "bn", "float", "layers", "lr", "step" },
            restored.Keys.Cast<string>().OrderBy(k => k, StringComparer.Ordinal));
        var layers = Assert.IsType<Dictionary<object, object?>>(restored["layers"]);
        Assert.Equal(new HashSet<object> { 0, 1 }, layers.Keys.ToHashSet());
        Assert.IsType<Dictionary<object, object?>>(layers[0]);
    }

    // ---- converting JSON leaves -------------------------------------------------------------

    [Fact]
    public void Json_leaves_convert_to_the_type_of_the_value_they_replace()
    {
        var s = Everything();
        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(s.ToPureDict()));
        var r = Zeroed(s).ReplaceByPureDict(doc.RootElement);
        Assert.Equal(new float[] { 0.5f, -1.25f }, Assert.IsType<float[]>(((Variable)r[KeyPath.Of("layers", 0, "kernel")]!).Value));
        var jagged = Assert.IsType<float[][]>(((Variable)r[KeyPath.Of("layers", 1, "kernel")]!).Value);
        Assert.Equal(new float[] { 1, 2 }, jagged[0]);
        Assert.Equal(new float[] { 3, 4, 5 }, jagged[1]);
        Assert.Equal(0.1, Assert.IsType<double>(((Variable)r[KeyPath.Of("layers", 0, "bias")]!).Value));
        Assert.Equal(42, Assert.IsType<int>(((Variable)r[KeyPath.Of("bn", "count")]!).Value));
        Assert.True(Assert.IsType<bool>(((Variable)r[KeyPath.Of("bn", "frozen")]!).Value));
        Assert.Equal("it's \"quoted\"", Assert.IsType<string>(((Variable)r[KeyPath.Of("bn", "name")]!).Value));
        Assert.Equal(1000, Assert.IsType<int>(r["step"]));
        Assert.Equal(0.001, Assert.IsType<double>(r["lr"]));
        Assert.Equal(2.5f, Assert.IsType<float>(r["float"]));
        Assert.IsType<MyParam>(r[KeyPath.Of("layers", 1, "kernel")]);
    }

    [Fact]
    public void Json_leaves_convert_from_JsonObject_nodes_too()
    {
        var s = State.Create(new Models.Node { ["w"] = new Param(new float[] { 0, 0 }), ["n"] = new Param(0), ["ok"] = false });
        var r = s.ReplaceByPureDict(new JsonObject { ["w"] = new JsonArray(1.5, 2.5), ["n"] = 3, ["ok"] = true });
        Assert.Equal(new float[] { 1.5f, 2.5f }, Assert.IsType<float[]>(((Variable)r["w"]!).Value));
        Assert.Equal(3, Assert.IsType<int>(((Variable)r["n"]!).Value));
        Assert.True(Assert.IsType<bool>(r["ok"]));
    }

    [Fact]
    public void Json_leaves_convert_to_multi_dimensional_arrays()
    {
        var s = State.Create(new Models.Node { ["m"] = new Param(new float[2, 3]) });
        using var doc = JsonDocument.Parse("""{"m":[[1,2,3],[4,5,6]]}""");
        var r = s.ReplaceByPureDict(doc.RootElement);
        Assert.Equal(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } }, Assert.IsType<float[,]>(((Variable)r["m"]!).Value));
    }

    [Fact]
    public void A_null_current_value_takes_the_natural_JSON_type()
    {
        var s = State.Create(new Models.Node { ["a"] = new Param(null), ["b"] = new Param(null), ["c"] = null, ["d"] = new Param(null) });
        using var doc = JsonDocument.Parse("""{"a":"text","b":true,"c":1.5,"d":null}""");
        var r = s.ReplaceByPureDict(doc.RootElement);
        Assert.Equal("text", Assert.IsType<string>(((Variable)r["a"]!).Value));
        Assert.True(Assert.IsType<bool>(((Variable)r["b"]!).Value));
        Assert.Equal(1.5, Assert.IsType<double>(r["c"]));
        Assert.Null(((Variable)r["d"]!).Value);
        Assert.IsType<Param>(r["d"]);
    }

    [Fact]
    public void A_Json_value_that_cannot_convert_is_an_error_naming_the_path()
    {
        var s = State.Create(new Models.Node
        {
            ["layers"] = new Models.Node { [0] = new Models.Node { ["kernel"] = new Param(new float[] { 0 }), ["n"] = new Param(0) } },
        });
        using var doc = JsonDocument.Parse("""{"layers":{"0":{"kernel":"not numbers","n":1.5}}}""");
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(doc.RootElement));
        Assert.Contains("('layers', 0, 'kernel')", e.Message);
        Assert.Contains("('layers', 0, 'n')", e.Message);
        var errors = V.Errors(s.TryReplaceByPureDict(doc.RootElement));
        Assert.Equal(
            new[] { KeyPath.Of("layers", 0, "kernel"), KeyPath.Of("layers", 0, "n") },
            errors.Select(x => x.At!).OrderBy(p => p).ToArray());
    }

    [Fact]
    public void A_Json_value_that_cannot_convert_from_a_deserialized_dictionary_names_the_path()
    {
        var s = State.Create(new Models.Node { ["step"] = 0, ["ok"] = false });
        var fromJson = JsonSerializer.Deserialize<Dictionary<string, object?>>("""{"step":"ten","ok":1}""")!;
        var errors = V.Errors(s.TryReplaceByPureDict(fromJson));
        Assert.Equal(new[] { KeyPath.Of("ok"), KeyPath.Of("step") }, errors.Select(x => x.At!).OrderBy(p => p).ToArray());
        Assert.Contains("('step',)", Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(fromJson)).Message);
    }

    [Fact]
    public void A_Json_number_too_big_for_an_int_is_an_error_naming_the_path()
    {
        var s = State.Create(new Models.Node { ["n"] = new Param(0) });
        using var doc = JsonDocument.Parse("""{"n":3000000000}""");
        Assert.Contains("('n',)", Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(doc.RootElement)).Message);
    }

    [Fact]
    public void A_custom_replace_receives_the_JSON_value_as_given()
    {
        var s = Models.Layers();
        using var doc = JsonDocument.Parse("""{"0":{"kernel":5}}""");
        object? seen = null;
        var r = s.ReplaceByPureDict(doc.RootElement, (cur, value) => { seen = value; return cur; });
        var element = Assert.IsType<JsonElement>(seen);
        Assert.Equal(5, element.GetInt32());
        Assert.Equal(s, r);

        var node = new JsonObject { ["0"] = new JsonObject { ["kernel"] = 6 } };
        s.ReplaceByPureDict(node, (cur, value) => { seen = value; return cur; });
        Assert.Equal(6, Assert.IsAssignableFrom<JsonNode>(seen).GetValue<int>());
    }

    [Fact]
    public void RestoreIntPaths_of_JSON_keeps_leaves_and_converts_keys()
    {
        using var doc = JsonDocument.Parse("""{"layers":{"0":{"w":[1,2]},"05":{"w":3}},"e":{}}""");
        var r = State.RestoreIntPaths(doc.RootElement);
        Assert.Equal(new object[] { "layers" }, r.Keys.ToArray());
        var layers = Assert.IsType<Dictionary<object, object?>>(r["layers"]);
        Assert.Equal(new HashSet<object> { 0, "05" }, layers.Keys.ToHashSet());
        var obj = JsonNode.Parse("""{"0":{"w":1}}""")!.AsObject();
        Assert.Equal(new object[] { 0 }, State.RestoreIntPaths(obj).Keys.ToArray());
    }

    [Fact]
    public void RestoreIntPaths_of_JSON_with_a_template()
    {
        var template = State.Create(new Models.Node { ["names"] = new Models.Node { ["0"] = 1 }, ["layers"] = new Models.Node { [0] = 1 } });
        using var doc = JsonDocument.Parse("""{"names":{"0":2},"layers":{"0":3}}""");
        var r = State.RestoreIntPaths(doc.RootElement, template);
        Assert.Equal(new object[] { "0" }, ((Dictionary<object, object?>)r["names"]!).Keys.ToArray());
        Assert.Equal(new object[] { 0 }, ((Dictionary<object, object?>)r["layers"]!).Keys.ToArray());
        var obj = JsonNode.Parse("""{"names":{"0":2},"layers":{"0":3}}""")!.AsObject();
        var fromNode = State.RestoreIntPaths(obj, template);
        Assert.Equal(new object[] { 0 }, ((Dictionary<object, object?>)fromNode["layers"]!).Keys.ToArray());
        var fromDict = State.RestoreIntPaths(JsonSerializer.Deserialize<Dictionary<string, object?>>("""{"names":{"0":2},"layers":{"0":3}}""")!, template);
        Assert.Equal(new object[] { "0" }, ((Dictionary<object, object?>)fromDict["names"]!).Keys.ToArray());
    }

    [Fact]
    public void Unknown_paths_from_JSON_show_keys_as_JSON_gave_them()
    {
        var s = Models.Layers();
        using var doc = JsonDocument.Parse("""{"5":{"kernel":1},"0":{"bias":2}}""");
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(doc.RootElement));
        var lines = FilterAndSplitTests.MessageOnly(e).Split('\n').OrderBy(x => x, StringComparer.Ordinal).ToArray();
        Assert.Equal(
            new[]
            {
                "key in pure_dict not available in state: ('0', 'bias')",
                "key in pure_dict not available in state: ('5', 'kernel')",
            },
            lines);
    }

    [Fact]
    public void A_Json_value_that_is_not_an_object_is_rejected()
    {
        using var doc = JsonDocument.Parse("[1,2]");
        Assert.Throws<ArgumentException>(() => Models.Layers().ReplaceByPureDict(doc.RootElement));
        Assert.Throws<ArgumentException>(() => State.RestoreIntPaths(doc.RootElement));
    }
}
