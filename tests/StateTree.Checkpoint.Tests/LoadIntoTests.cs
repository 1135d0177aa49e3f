using System.Numerics.Tensors;
using FsCheck;
using FsCheck.Fluent;

namespace StateTree.Checkpoint.Tests;

/// <summary>A nested dictionary literal, the form State.Create reads as sub-states.</summary>
file sealed class Node : Dictionary<PathKey, object?>;

// CheckpointLoader.LoadInto: PyTorch's load_state_dict(strict=…) made precise. Most tests use the overload taking an
// already loaded state (the comparison without files); the README tests go through safetensors files.
public sealed class LoadIntoTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("statetree-loadinto-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static readonly Dictionary<string, object?> Sharded = new() { ["sharding"] = "model" };

    /// <summary>A freshly built model: zeros, with metadata on the kernel.</summary>
    private static State Template() => State.Create(new Node
    {
        ["dense"] = new Node
        {
            ["kernel"] = new Param(new float[2, 3], Sharded),
            ["bias"] = new Param(new float[3]),
        },
        ["bn"] = new Node { ["mean"] = new BatchStat(new float[3]) },
        ["step"] = 0L,
    });

    /// <summary>What a file without structure gives for a trained <see cref="Template"/>: bare tensors and scalars.</summary>
    private static State Checkpoint() => State.Create(new Node
    {
        ["dense"] = new Node
        {
            ["kernel"] = Tensor.Create(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]),
            ["bias"] = Tensor.Create(new float[] { 0.5f, 0.25f, 0.125f }, [3]),
        },
        ["bn"] = new Node { ["mean"] = Tensor.Create(new float[] { 7, 8, 9 }, [3]) },
        ["step"] = 1000L,
    });

    /// <summary>The trained model: <see cref="Checkpoint"/>'s values in <see cref="Template"/>'s types and containers.</summary>
    private static State Trained() => State.Create(new Node
    {
        ["dense"] = new Node
        {
            ["kernel"] = new Param(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } }, Sharded),
            ["bias"] = new Param(new float[] { 0.5f, 0.25f, 0.125f }),
        },
        ["bn"] = new Node { ["mean"] = new BatchStat(new float[] { 7, 8, 9 }) },
        ["step"] = 1000L,
    });

    private static KeyPath P(params PathKey[] keys) => KeyPath.Of(keys);

    // ---- a clean load ----

    [Fact]
    public void Raw_values_take_the_templates_variable_types_metadata_and_containers()
    {
        var (state, report) = CheckpointLoader.LoadInto(Template(), Checkpoint());

        Assert.Equal(Trained(), state);
        Assert.True(report.IsClean);
        Assert.Equal(4, report.LoadedCount);
        Assert.Null(report.Hint);
        Assert.Equal("LoadReport: 4 leaves loaded, 0 problems reported", report.ToString());
    }

    [Fact]
    public void Checkpoint_variables_of_the_templates_type_are_loaded_with_their_own_metadata()
    {
        var saved = State.Create(new Node { ["w"] = new Param(new float[] { 1, 2 }).WithMetadata("lr_scale", 0.5) });
        var template = State.Create(new Node { ["w"] = new Param(new float[2]).WithMetadata("lr_scale", 1.0) });

        var (state, _) = CheckpointLoader.LoadInto(template, saved);

        Assert.Equal(saved, state);
    }

    [Fact]
    public void Containers_convert_both_ways_when_dtype_and_shape_agree()
    {
        var template = State.Create(new Node
        {
            ["t"] = Tensor.Create(new float[4], [2, 2]),
            ["a"] = new double[3],
            ["m"] = new int[2, 2],
        });
        var loaded = State.Create(new Node
        {
            ["t"] = new float[,] { { 1, 2 }, { 3, 4 } },
            ["a"] = Tensor.Create(new double[] { 1, 2, 3 }, [3]),
            ["m"] = Tensor.Create(new[] { 1, 2, 3, 4 }, [2, 2]),
        });

        var (state, _) = CheckpointLoader.LoadInto(template, loaded);

        Assert.Equal(Tensor.Create(new float[] { 1, 2, 3, 4 }, [2, 2]), state["t"]);
        Assert.Equal(new double[] { 1, 2, 3 }, state["a"]);
        Assert.Equal(new[,] { { 1, 2 }, { 3, 4 } }, state["m"]);
    }

    [Fact]
    public void The_result_has_the_templates_structure_including_empty_sub_states()
    {
        var template = Template().SetItem(P("cache"), State.Empty);

        var (state, _) = CheckpointLoader.LoadInto(template, Checkpoint());

        Assert.Equal(Trained().SetItem(P("cache"), State.Empty), state);
    }

    [Fact]
    public void A_template_leaf_whose_value_is_null_accepts_any_value()
    {
        var template = State.Create(new Node { ["free"] = new Param(null), ["raw"] = null });
        var loaded = State.Create(new Node { ["free"] = "anything", ["raw"] = 3.5 });

        var (state, _) = CheckpointLoader.LoadInto(template, loaded);

        Assert.Equal(State.Create(new Node { ["free"] = new Param("anything"), ["raw"] = 3.5 }), state);
    }

    [Fact]
    public void Int_and_string_keys_with_the_same_text_match_when_unambiguous()
    {
        var template = State.Create(new Node { ["layers"] = new Node { ["0"] = new Param(0.0), [1] = new Param(0.0) } });
        var loaded = State.Create(new Node { ["layers"] = new Node { [0] = 1.5, ["1"] = 2.5 } });

        var (state, _) = CheckpointLoader.LoadInto(template, loaded);

        Assert.Equal(State.Create(new Node { ["layers"] = new Node { ["0"] = new Param(1.5), [1] = new Param(2.5) } }), state);
    }

    [Fact]
    public void Keys_with_the_same_text_in_the_template_match_only_exactly()
    {
        var template = State.Create(new Node { [0] = 0.0, ["0"] = 0.0 });
        var loaded = State.Create(new Node { [0] = 1.0, ["00"] = 2.0 });

        var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(template, loaded));

        Assert.Equal(new[] { "Missing ('0',)", "Unexpected ('00',)" }, e.Problems.Select(p => $"{p.Kind} {p}"));
    }

    // ---- each kind under each policy ----

    public static TheoryData<LoadProblemKind, LoadPolicy> KindsAndPolicies()
    {
        var data = new TheoryData<LoadProblemKind, LoadPolicy>();
        foreach (var kind in Enum.GetValues<LoadProblemKind>())
        {
            foreach (var policy in Enum.GetValues<LoadPolicy>())
                data.Add(kind, policy);
        }

        return data;
    }

    /// <summary>The checkpoint with exactly one problem of the kind, and the problem's text.</summary>
    private static (State Checkpoint, string Problem) WithOne(LoadProblemKind kind) => kind switch
    {
        LoadProblemKind.Missing => (Checkpoint().Remove(P("bn", "mean")), "('bn', 'mean')"),
        LoadProblemKind.Unexpected => (Checkpoint().SetItem(P("head", "kernel"), Tensor.Create(new float[2], [2])), "('head', 'kernel')"),
        LoadProblemKind.ShapeMismatch => (Checkpoint().SetItem(P("bn", "mean"), Tensor.Create(new float[4], [4])), "('bn', 'mean'): checkpoint [4], template [3]"),
        LoadProblemKind.DtypeMismatch => (Checkpoint().SetItem(P("bn", "mean"), Tensor.Create(new Half[3], [3])), "('bn', 'mean'): checkpoint F16, template F32"),
        _ => (Checkpoint().SetItem(P("bn", "mean"), new Param(new float[] { 7, 8, 9 })), "('bn', 'mean'): checkpoint Param, template BatchStat"),
    };

    private static LoadOptions Only(LoadProblemKind kind, LoadPolicy policy) => kind switch
    {
        LoadProblemKind.Missing => new LoadOptions { Missing = policy },
        LoadProblemKind.Unexpected => new LoadOptions { Unexpected = policy },
        LoadProblemKind.ShapeMismatch => new LoadOptions { ShapeMismatch = policy },
        LoadProblemKind.DtypeMismatch => new LoadOptions { DtypeMismatch = policy },
        _ => new LoadOptions { VariableTypeMismatch = policy },
    };

    [Theory]
    [MemberData(nameof(KindsAndPolicies))]
    public void Each_kind_under_each_policy(LoadProblemKind kind, LoadPolicy policy)
    {
        var (checkpoint, problem) = WithOne(kind);
        var options = Only(kind, policy);
        var template = Template();

        if (policy == LoadPolicy.Error)
        {
            var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(template, checkpoint, options));
            var only = Assert.Single(e.Problems);
            Assert.Equal(kind, only.Kind);
            Assert.Equal(problem, only.ToString());
            Assert.Null(e.FilePath);
            Assert.Equal(Template(), template);
            return;
        }

        var (state, report) = CheckpointLoader.LoadInto(template, checkpoint, options);

        // The leaf at fault keeps the template's value; everything else is loaded; an unexpected leaf is dropped.
        var expected = kind == LoadProblemKind.Unexpected ? Trained() : Trained().SetItem(P("bn", "mean"), new BatchStat(new float[3]));
        Assert.Equal(expected, state);
        Assert.Equal(kind == LoadProblemKind.Unexpected ? 4 : 3, report.LoadedCount);
        if (policy == LoadPolicy.Skip)
        {
            Assert.True(report.IsClean);
        }
        else
        {
            var only = Assert.Single(report.Problems);
            Assert.Equal(kind, only.Kind);
            Assert.Equal(problem, only.ToString());
        }
    }

    [Fact]
    public void The_report_lists_each_kind_in_its_own_property()
    {
        var checkpoint = Checkpoint()
            .Remove(P("step"))
            .SetItem(P("extra"), 1.0)
            .SetItem(P("dense", "bias"), Tensor.Create(new float[2], [2]))
            .SetItem(P("dense", "kernel"), Tensor.Create(new double[6], [2, 3]))
            .SetItem(P("bn", "mean"), new Param(new float[3]));

        var (state, report) = CheckpointLoader.LoadInto(Template(), checkpoint, LoadOptions.Lenient);

        Assert.Equal(Template(), state);
        Assert.Equal(0, report.LoadedCount);
        Assert.Equal(new[] { P("step") }, report.Missing);
        Assert.Equal(new[] { P("extra") }, report.Unexpected);
        Assert.Equal(P("dense", "bias"), Assert.Single(report.ShapeMismatches).Path);
        Assert.Equal(P("dense", "kernel"), Assert.Single(report.DtypeMismatches).Path);
        Assert.Equal(P("bn", "mean"), Assert.Single(report.VariableTypeMismatches).Path);
        Assert.Equal(5, report.Problems.Count);
        Assert.False(report.IsClean);
    }

    // ---- the message ----

    [Fact]
    public void The_strict_message_lists_every_problem_grouped_by_kind_in_path_order()
    {
        var template = Template().SetItem(P("layers", 0, "kernel"), new Param(new float[2])).SetItem(P("layers", 1, "kernel"), new Param(new float[2]));
        var checkpoint = Checkpoint()
            .Remove(P("step"))
            .SetItem(P("layers", 1, "kernel"), new float[] { 1, 2 })
            .SetItem(P("layers", 2, "kernel"), new float[] { 1, 2 })
            .SetItem(P("extra"), "x")
            .SetItem(P("dense", "bias"), Tensor.Create(new float[4], [4]))
            .SetItem(P("dense", "kernel"), Tensor.Create(new double[12], [3, 4]))
            .SetItem(P("bn", "mean"), new RngCount(new float[] { 7, 8, 9 }));

        var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(template, checkpoint));

        Assert.Equal(
            """
            Error(s) in loading the checkpoint state into the template (8 problems):
              Missing paths (in the template, not in the checkpoint): 2
                ('layers', 0, 'kernel')
                ('step',)
              Unexpected paths (in the checkpoint, not in the template): 2
                ('extra',)
                ('layers', 2, 'kernel')
              Shape mismatches: 2
                ('dense', 'bias'): checkpoint [4], template [3]
                ('dense', 'kernel'): checkpoint [3, 4], template [2, 3]
              Dtype mismatches: 1
                ('dense', 'kernel'): checkpoint F64, template F32
              Variable-type mismatches: 1
                ('bn', 'mean'): checkpoint RngCount, template BatchStat
            """.ReplaceLineEndings("\n"),
            e.Message);
        Assert.Null(e.Hint);
    }

    [Fact]
    public void Only_problems_whose_policy_is_error_are_in_the_message()
    {
        var checkpoint = Checkpoint().Remove(P("step")).SetItem(P("dense", "bias"), Tensor.Create(new float[4], [4]));
        var options = new LoadOptions { Missing = LoadPolicy.Report };

        var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(Template(), checkpoint, options));

        Assert.Equal(
            """
            Error(s) in loading the checkpoint state into the template (1 problem):
              Shape mismatches: 1
                ('dense', 'bias'): checkpoint [4], template [3]
            """.ReplaceLineEndings("\n"),
            e.Message);
    }

    [Fact]
    public void Non_tensor_leaves_compare_by_dotnet_type()
    {
        var template = State.Create(new Node { ["name"] = new Cache("run"), ["count"] = 0 });
        var loaded = State.Create(new Node { ["name"] = 2.5, ["count"] = 3L });

        var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(template, loaded));

        Assert.Equal(
            new[] { "('count',): checkpoint I64, template I32", "('name',): checkpoint F64, template String" },
            e.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void A_null_value_where_the_template_has_one_is_a_dtype_mismatch()
    {
        var e = Assert.Throws<LoadMismatchException>(() =>
            CheckpointLoader.LoadInto(State.Create(new Node { ["w"] = new Param(new float[1]) }), State.Create(new Node { ["w"] = null })));

        Assert.Equal("('w',): checkpoint null, template F32", Assert.Single(e.Problems).ToString());
    }

    [Fact]
    public void A_raw_template_leaf_and_a_checkpoint_variable_are_a_variable_type_mismatch()
    {
        var e = Assert.Throws<LoadMismatchException>(() =>
            CheckpointLoader.LoadInto(State.Create(new Node { ["w"] = 1.0 }), State.Create(new Node { ["w"] = new Param(1.0) })));

        Assert.Equal("('w',): checkpoint Param, template raw value (Double)", Assert.Single(e.Problems).ToString());
    }

    // ---- the prefix hint ----

    [Fact]
    public void A_checkpoint_with_an_extra_prefix_gets_a_hint()
    {
        var wrapped = State.Create(new Node { ["module"] = Checkpoint() });

        var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(Template(), wrapped));

        const string Hint = "every unexpected path is a missing path with the prefix ('module',) in front (dotted: 'module.'): "
            + "the checkpoint holds the state under ('module',); load the checkpoint's sub-state at that path instead.";
        Assert.Equal(Hint, e.Hint);
        Assert.EndsWith("\n  Hint: " + Hint, e.Message);
        Assert.Equal(8, e.Problems.Count);

        var (_, report) = CheckpointLoader.LoadInto(Template(), wrapped, LoadOptions.NonStrict);
        Assert.Equal(Hint, report.Hint);
        Assert.EndsWith("\n  Hint: " + Hint, report.ToString());

        var (state, _) = CheckpointLoader.LoadInto(Template(), (State)wrapped["module"]!);
        Assert.Equal(Trained(), state);
    }

    [Fact]
    public void A_template_with_an_extra_multi_key_prefix_gets_the_reverse_hint()
    {
        var template = State.Create(new Node { ["model"] = new Node { [0] = Template() } });

        var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(template, Checkpoint()));

        Assert.Equal(
            "every missing path is an unexpected path with the prefix ('model', 0) in front (dotted: 'model.0.'): "
            + "the template holds the state under ('model', 0); load into the template's sub-state at that path instead.",
            e.Hint);
    }

    [Theory]
    [InlineData("extra")]
    [InlineData("fewer")]
    [InlineData("two prefixes")]
    public void No_hint_when_one_prefix_does_not_explain_every_path(string variant)
    {
        var wrapped = variant switch
        {
            "extra" => State.Create(new Node { ["module"] = Checkpoint(), ["other"] = 1L }),
            "fewer" => State.Create(new Node { ["module"] = Checkpoint().Remove(P("step")) }),
            _ => State.Create(new Node { ["a"] = Checkpoint().Remove(P("step")), ["b"] = new Node { ["step"] = 1L } }),
        };

        var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(Template(), wrapped));

        Assert.Null(e.Hint);
        Assert.DoesNotContain("Hint", e.Message);
    }

    [Fact]
    public void The_hint_is_left_out_when_missing_and_unexpected_paths_are_not_errors()
    {
        var wrapped = State.Create(new Node { ["module"] = Checkpoint() }).SetItem(P("module", "step"), 1.5);
        var options = new LoadOptions { Missing = LoadPolicy.Skip, Unexpected = LoadPolicy.Skip };

        var (state, report) = CheckpointLoader.LoadInto(Template(), wrapped, options);

        Assert.Equal(Template(), state);
        Assert.True(report.IsClean);
        Assert.Null(report.Hint);
    }

    // ---- presets ----

    [Fact]
    public void Presets_are_pytorch_strict_and_non_strict_and_a_lenient_one()
    {
        Assert.Equal("LoadOptions(Missing=Error, Unexpected=Error, ShapeMismatch=Error, DtypeMismatch=Error, VariableTypeMismatch=Error)", LoadOptions.Strict.ToString());
        Assert.Equal(LoadOptions.Strict.ToString(), new LoadOptions().ToString());
        Assert.Equal("LoadOptions(Missing=Report, Unexpected=Report, ShapeMismatch=Error, DtypeMismatch=Error, VariableTypeMismatch=Error)", LoadOptions.NonStrict.ToString());
        Assert.Equal("LoadOptions(Missing=Report, Unexpected=Report, ShapeMismatch=Report, DtypeMismatch=Report, VariableTypeMismatch=Report)", LoadOptions.Lenient.ToString());
        Assert.Throws<ArgumentOutOfRangeException>(() => LoadOptions.Strict.PolicyFor((LoadProblemKind)42));
    }

    [Fact]
    public void Non_strict_tolerates_missing_and_unexpected_paths_but_not_shape_mismatches()
    {
        var checkpoint = Checkpoint().Remove(P("step")).SetItem(P("extra"), 1.0);

        var (state, report) = CheckpointLoader.LoadInto(Template(), checkpoint, LoadOptions.NonStrict);

        Assert.Equal(Trained().SetItem(P("step"), 0L), state);
        Assert.Equal(new[] { P("step") }, report.Missing);
        Assert.Equal(new[] { P("extra") }, report.Unexpected);

        var withShape = checkpoint.SetItem(P("dense", "bias"), Tensor.Create(new float[4], [4]));
        Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(Template(), withShape, LoadOptions.NonStrict));
        Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(Template(), checkpoint));
    }

    [Fact]
    public void Readme_a_pretrained_backbone_into_a_model_with_a_new_head()
    {
        // The checkpoint's head has 4 outputs and an auxiliary head; the new model's head has 3.
        var pretrained = Checkpoint().SetItem(P("dense", "bias"), Tensor.Create(new float[4], [4])).SetItem(P("aux", "bias"), 1.0f);

        var template = Template();

        // README: a new head
        var options = new LoadOptions { Unexpected = LoadPolicy.Report, ShapeMismatch = LoadPolicy.Report };
        var (state, report) = CheckpointLoader.LoadInto(template, pretrained, options);   // pretrained: a State
        // end README

        Assert.Equal(Trained().SetItem(P("dense", "bias"), new Param(new float[3])), state);
        Assert.Equal(new[] { P("aux", "bias") }, report.Unexpected);
        Assert.Equal(P("dense", "bias"), Assert.Single(report.ShapeMismatches).Path);
        Assert.Equal(
            """
            LoadReport: 3 leaves loaded, 2 problems reported
              Unexpected paths (in the checkpoint, not in the template): 1
                ('aux', 'bias')
              Shape mismatches: 1
                ('dense', 'bias'): checkpoint [4], template [3]
            """.ReplaceLineEndings("\n"),
            report.ToString());
    }

    [Fact]
    public void Null_arguments_are_rejected()
    {
        Assert.Throws<ArgumentNullException>(() => CheckpointLoader.LoadInto(null!, State.Empty));
        Assert.Throws<ArgumentNullException>(() => CheckpointLoader.LoadInto(State.Empty, (State)null!));
        Assert.Throws<ArgumentNullException>(() => CheckpointLoader.LoadInto(State.Empty, (string)null!));
        Assert.Throws<ArgumentNullException>(() => CheckpointLoader.LoadInto(null!, "x.safetensors", null));
    }

    // ---- a property ----

    [Fact]
    public void Property_loading_a_state_into_itself_or_into_a_zeroed_copy_gives_it_back_with_a_clean_report()
    {
        var leaf = Gen.OneOf(
            Gen.Choose(0, 5).SelectMany(n => Gen.ArrayOf(Gen.Choose(-9, 9).Select(i => (float)i), n)).Select(a => (object?)new Param(a)),
            Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(Gen.Choose(-9, 9).Select(i => (double)i), n * 2)).Select(a => (object?)new BatchStat(Tensor.Create(a, [a.Length / 2, 2]))),
            Gen.Choose(-9, 9).Select(i => (object?)(long)i));
        var paths = Gen.Choose(1, 3).SelectMany(d => Gen.ArrayOf(Gen.Elements<PathKey>(0, 1, "a", "b"), d)).Select(k => KeyPath.Of(k));
        var states = Gen.Choose(1, 12).SelectMany(n => Gen.ListOf(paths.SelectMany(p => leaf.Select(l => (p, l))), n)).Select(pairs =>
        {
            var s = State.Empty;
            foreach (var (p, l) in pairs)
            {
                try
                {
                    s = s.SetItem(p, l);
                }
                catch (ArgumentException)
                {
                }
            }

            return s;
        });

        Prop.ForAll(
                Arb.From(states),
                s =>
                {
                    var zeroed = s.Map((_, l) => l switch
                    {
                        Variable { Value: float[] a } v => v.WithValue(new float[a.Length]),
                        Variable { Value: Tensor<double> t } v => v.WithValue(Tensor.Create(new double[t.FlattenedLength], t.Lengths)),
                        _ => 0L,
                    });
                    var bare = s.Map((_, l) => l is Variable v ? v.Value : l);
                    var (fromItself, r1) = CheckpointLoader.LoadInto(s, s);
                    var (fromBare, r2) = CheckpointLoader.LoadInto(zeroed, bare);
                    return fromItself == s && fromBare == s && r1.IsClean && r2.IsClean && r2.LoadedCount == s.LeafCount;
                })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    // ---- README: through safetensors files ----

    [Fact]
    public void Readme_saving_and_loading()
    {
        State state = Trained();

        // README: saving and loading
        Safetensors.Save(state, Path.Combine(dir, "model.safetensors"));
        State restored = Safetensors.Load(Path.Combine(dir, "model.safetensors"));   // == state: Variable types, metadata, int keys, arrays
        // end README

        Assert.Equal(state, restored);
    }

    [Fact]
    public void Readme_sharding()
    {
        State state = Trained().SetItem(P("layers", 0, "kernel"), new Param(new float[64])).SetItem(P("layers", 1, "kernel"), new Param(new float[64]));

        // README: sharding
        Safetensors.Save(state, Path.Combine(dir, "model.safetensors"), new SafetensorsOptions { MaxShardBytes = 256 });
        // dir/model-00001-of-0000n.safetensors, …, dir/model.safetensors.index.json; no dir/model.safetensors
        State all = Safetensors.Load(dir);                                         // the folder, or the index file
        // end README

        Assert.Equal(state, all);
        Assert.Equal(state, Safetensors.Load(Path.Combine(dir, "model.safetensors.index.json")));
        Assert.False(File.Exists(Path.Combine(dir, "model.safetensors")));
        Assert.True(Directory.GetFiles(dir, "model-0000?-of-0000?.safetensors").Length >= 2);
    }

    [Fact]
    public void Readme_inspecting()
    {
        Safetensors.Save(Trained(), Path.Combine(dir, "model.safetensors"), new SafetensorsOptions { StoreStructure = false });

        // README: inspecting
        SafetensorsHeader header = Safetensors.ReadHeader(Path.Combine(dir, "model.safetensors"));   // reads no tensor data
        var lines = header.Tensors.Select(t => $"{t.Name}: {t.Dtype} [{string.Join(", ", t.Shape)}]");
        State kernels = Safetensors.Load(Path.Combine(dir, "model.safetensors"), Filter.PathContains("kernel"));   // reads only those bytes
        // end README

        Assert.Equal(
            new[] { "bn.mean: F32 [3]", "dense.bias: F32 [3]", "dense.kernel: F32 [2, 3]", "step: I64 []" },
            lines.Order(StringComparer.Ordinal));
        Assert.Equal("pt", header.Metadata["format"]);
        Assert.Equal(new[] { P("dense", "kernel") }, kernels.Flatten().Select(p => p.Path));
    }

    [Fact]
    public void Readme_exchanging_with_python()
    {
        State state = Trained();
        State template = Template();

        // README: exchanging with Python
        // Bare tensors named "dense.kernel", …: what safetensors.torch.load_file / safetensors.numpy.load_file expect.
        Safetensors.Save(state, Path.Combine(dir, "for_python.safetensors"), new SafetensorsOptions { StoreStructure = false });
        // A file from Python loads as Tensor<T> leaves; LoadInto puts its values into the template's types.
        State bare = Safetensors.Load(Path.Combine(dir, "for_python.safetensors"));
        var (model, report) = CheckpointLoader.LoadInto(template, Path.Combine(dir, "for_python.safetensors"));
        // end README

        Assert.IsType<Tensor<float>>(bare[P("dense", "kernel")]);
        Assert.Equal(state, model);
        Assert.True(report.IsClean);
    }

    [Fact]
    public void Readme_load_into()
    {
        Safetensors.Save(State.Create(new Node { ["module"] = Checkpoint() }), Path.Combine(dir, "ddp.safetensors"));
        Safetensors.Save(Checkpoint().Remove(P("bn")), Path.Combine(dir, "model.safetensors"));
        State template = Template();

        // README: LoadInto
        var (model, report) = CheckpointLoader.LoadInto(template, Path.Combine(dir, "model.safetensors"), LoadOptions.NonStrict);
        var kept = report.Missing.Select(p => p.ToTupleString());                            // ["('bn', 'mean')"]: kept the template's value

        try
        {
            CheckpointLoader.LoadInto(template, Path.Combine(dir, "ddp.safetensors"));     // strict by default
        }
        catch (LoadMismatchException e) when (e.Hint is not null)
        {
            // e.Message lists every problem by kind; e.Hint: "every unexpected path is a missing path with
            // the prefix ('module',) in front (dotted: 'module.') …"
            var inner = (State)Safetensors.Load(Path.Combine(dir, "ddp.safetensors"))["module"]!;
            (model, report) = CheckpointLoader.LoadInto(template, inner);
        }
        // end README

        Assert.Equal(new[] { "('bn', 'mean')" }, kept);
        Assert.Equal(Trained(), model);
        Assert.True(report.IsClean);
    }

    [Fact]
    public void Load_into_from_a_file_names_it_and_loads_nothing_on_error()
    {
        var file = Path.Combine(dir, "bad.safetensors");
        Safetensors.Save(Checkpoint().SetItem(P("dense", "bias"), Tensor.Create(new float[4], [4])), file);

        var e = Assert.Throws<LoadMismatchException>(() => CheckpointLoader.LoadInto(Template(), file));

        Assert.Equal(file, e.FilePath);
        Assert.StartsWith($"Error(s) in loading '{file}' into the template (1 problem):", e.Message);
    }

    [Fact]
    public void Load_into_from_a_file_saved_with_structure_keeps_the_saved_variables()
    {
        var file = Path.Combine(dir, "structured.safetensors");
        var saved = Trained().SetItem(P("dense", "bias"), new Param(new float[] { 1, 2, 3 }).WithMetadata("frozen", true));
        Safetensors.Save(saved, file);

        var (state, report) = CheckpointLoader.LoadInto(Template(), file);

        Assert.Equal(saved, state);
        Assert.Equal(4, report.LoadedCount);
    }
}
