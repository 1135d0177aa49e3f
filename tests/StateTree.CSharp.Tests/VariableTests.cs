namespace StateTree.CSharp.Tests;

// SPEC §2: the Variable hierarchy, user subclasses, WithValue/WithMetadata, Tag.
public class VariableTests
{
    [Fact]
    public void The_hierarchy_is_the_one_of_the_spec()
    {
        Assert.IsAssignableFrom<Variable>(new Param(1));
        Assert.IsAssignableFrom<Variable>(new BatchStat(1));
        Assert.IsAssignableFrom<Variable>(new Cache(1));
        Assert.IsAssignableFrom<Variable>(new Intermediate(1));
        Assert.IsAssignableFrom<Intermediate>(new Perturbation(1));
        Assert.IsAssignableFrom<Variable>(new RngState(1));
        Assert.IsAssignableFrom<RngState>(new RngKey(1));
        Assert.IsAssignableFrom<RngState>(new RngCount(1));
        Assert.IsAssignableFrom<Variable>(new OptState(1));
        Assert.False((Variable)new BatchStat(1) is Param);
        Assert.False((Variable)new RngKey(1) is Intermediate);
    }

    [Fact]
    public void Variable_itself_is_concrete_and_a_valid_leaf()
    {
        var v = new Variable(6);
        Assert.Equal(6, v.Value);
        var s = State.Create(new Models.Node { ["v"] = v });
        Assert.Same(v, s["v"]);
        Assert.Equal(new Variable(6), s["v"]);
    }

    [Fact]
    public void WithValue_keeps_the_runtime_type_and_the_metadata()
    {
        Variable v = new RngCount(0).WithMetadata("tag", "dropout");
        var w = v.WithValue(1);
        Assert.IsType<RngCount>(w);
        Assert.Equal(1, w.Value);
        Assert.Equal("dropout", w.Tag);
        Assert.Equal(0, v.Value);
    }

    [Fact]
    public void WithValue_keeps_a_user_subclass_with_no_code_on_its_side()
    {
        var p = new MyParam(1.0);
        var q = p.WithValue(2.0);
        Assert.IsType<MyParam>(q);
        Assert.Equal(2.0, q.Value);
        var r = new MyLoraParam(1).WithMetadata("rank", 4).WithValue(5);
        Assert.IsType<MyLoraParam>(r);
        Assert.Equal(4, r.Metadata["rank"]);
        Assert.Equal(5, r.Value);
    }

    [Fact]
    public void WithValue_and_WithMetadata_keep_the_fields_of_a_user_subclass_of_a_library_type()
    {
        // The library's own types are copied by construction; anything derived from them must still
        // be copied whole.
        var p = new ScaledParam(1.0, 0.5);
        var q = Assert.IsType<ScaledParam>(p.WithValue(2.0));
        Assert.Equal(0.5, q.Scale);
        Assert.Equal(2.0, q.Value);
        var r = Assert.IsType<ScaledParam>(q.WithMetadata("tag", "lora"));
        Assert.Equal(0.5, r.Scale);
        Assert.Equal("lora", r.Tag);
    }

    [Fact]
    public void WithMetadata_keeps_the_type_and_the_value_and_leaves_the_original_unchanged()
    {
        var p = new Param(new float[] { 1, 2 });
        var q = p.WithMetadata("sharding", "data");
        Assert.IsType<Param>(q);
        Assert.Same(p.Value, q.Value);
        Assert.Equal("data", q.Metadata["sharding"]);
        Assert.Empty(p.Metadata);
        var r = q.WithMetadata("sharding", "model");
        Assert.Equal("model", r.Metadata["sharding"]);
        Assert.Equal("data", q.Metadata["sharding"]);
        Assert.Single(r.Metadata);
    }

    [Fact]
    public void Tag_reads_the_tag_entry_or_null()
    {
        Assert.Null(new RngKey(1).Tag);
        Assert.Equal("params", new RngKey(1).WithMetadata("tag", "params").Tag);
        var withMetadata = new RngKey(1, new Dictionary<string, object?> { ["tag"] = "dropout" });
        Assert.Equal("dropout", withMetadata.Tag);
        Assert.Null(new Param(1).WithMetadata("tag", null).Tag);
    }

    [Fact]
    public void Value_may_be_null()
    {
        var p = new Param(null);
        Assert.Null(p.Value);
        Assert.Equal(new Param(null), p);
        Assert.NotEqual(new Param(0), p);
        Assert.Equal(new Param(null).GetHashCode(), p.GetHashCode());
        Assert.Null(new Param(1).WithValue(null).Value);
    }

    [Fact]
    public void Variables_are_equal_by_runtime_type_value_and_metadata()
    {
        Assert.Equal(new Param(1), new Param(1));
        Assert.Equal(new Param(1).GetHashCode(), new Param(1).GetHashCode());
        Assert.NotEqual<Variable>(new Param(1), new BatchStat(1));
        Assert.NotEqual<Variable>(new Param(1), new MyParam(1));
        Assert.NotEqual(new Param(1), new Param(2));
        Assert.NotEqual(new Param(1).WithMetadata("tag", "a"), new Param(1).WithMetadata("tag", "b"));
        Assert.NotEqual(new Param(1).WithMetadata("tag", "a"), new Param(1));
        Assert.Equal(new Param(1).WithMetadata("a", 1).WithMetadata("b", 2), new Param(1).WithMetadata("b", 2).WithMetadata("a", 1));
    }

    [Fact]
    public void Array_values_compare_element_by_element()
    {
        Assert.Equal(new Param(new float[] { 1, 2, 3 }), new Param(new float[] { 1, 2, 3 }));
        Assert.Equal(new Param(new float[] { 1, 2, 3 }).GetHashCode(), new Param(new float[] { 1, 2, 3 }).GetHashCode());
        Assert.NotEqual(new Param(new float[] { 1, 2, 3 }), new Param(new float[] { 1, 2, 4 }));
        Assert.NotEqual(new Param(new float[] { 1, 2 }), new Param(new double[] { 1, 2 }));
        Assert.Equal(new Param(new float[,] { { 1, 2 }, { 3, 4 } }), new Param(new float[,] { { 1, 2 }, { 3, 4 } }));
        Assert.NotEqual(new Param(new float[,] { { 1, 2 }, { 3, 4 } }), new Param(new float[,] { { 1, 3 }, { 2, 4 } }));
        Assert.NotEqual(new Param(new float[,] { { 1, 2, 3, 4 } }), new Param(new float[,] { { 1, 2 }, { 3, 4 } }));
    }

    [Fact]
    public void Metadata_is_a_copy()
    {
        var md = new Dictionary<string, object?> { ["tag"] = "a" };
        var p = new Param(1, md);
        md["tag"] = "b";
        Assert.Equal("a", p.Tag);
    }

    [Fact]
    public void Null_metadata_is_rejected()
    {
        var e = Assert.Throws<ArgumentNullException>(() => new Param(1, null!));
        Assert.Equal("metadata", e.ParamName);
    }
}
