namespace StateTree.CSharp.Tests;

// SPEC §1: keys, their total order, and paths.
public class KeysAndPathsTests
{
    [Fact]
    public void Int_and_string_keys_are_different_even_with_the_same_text()
    {
        PathKey zero = 0, zeroText = "0";
        Assert.NotEqual(zero, zeroText);
        Assert.False(zero == zeroText);
        Assert.True(zero.IsIndex);
        Assert.False(zeroText.IsIndex);
        Assert.Equal(0, zero.Index);
        Assert.Equal("0", zeroText.Name);
        Assert.Equal("0", zero.ToString());
        Assert.Equal("0", zeroText.ToString());
    }

    [Fact]
    public void Reading_the_other_kind_of_a_key_throws()
    {
        PathKey index = 3, name = "x";
        Assert.Throws<InvalidOperationException>(() => index.Name);
        Assert.Throws<InvalidOperationException>(() => name.Index);
    }

    [Fact]
    public void Equal_keys_hash_alike()
    {
        Assert.Equal(((PathKey)"kernel").GetHashCode(), ((PathKey)new string("kernel".ToCharArray())).GetHashCode());
        Assert.Equal(((PathKey)17).GetHashCode(), ((PathKey)17).GetHashCode());
        Assert.True(((PathKey)"a").Equals((object)(PathKey)"a"));
        Assert.False(((PathKey)1).Equals((object)1), "a boxed int is not a key");
    }

    [Fact]
    public void Every_int_sorts_before_every_string()
    {
        Assert.True(((PathKey)int.MaxValue).CompareTo("") < 0);
        Assert.True(((PathKey)"").CompareTo(int.MinValue) > 0);
        Assert.True(((PathKey)"0").CompareTo(5) > 0);
    }

    [Fact]
    public void Ints_sort_numerically()
    {
        PathKey[] keys = [10, -3, 2, 0, int.MinValue, int.MaxValue];
        Assert.Equal(new PathKey[] { int.MinValue, -3, 0, 2, 10, int.MaxValue }, keys.OrderBy(k => k).ToArray());
    }

    [Fact]
    public void Strings_sort_by_ordinal_code_units_as_in_the_spec()
    {
        // SPEC §1: "A" < "B" < "a" < "a_" < "ab" and "10" < "2".
        PathKey[] sorted = ["A", "B", "a", "a_", "ab"];
        var shuffled = new PathKey[] { "ab", "a", "B", "a_", "A" };
        Assert.Equal(sorted, shuffled.OrderBy(k => k).ToArray());
        for (var i = 0; i + 1 < sorted.Length; i++)
            Assert.True(sorted[i].CompareTo(sorted[i + 1]) < 0, $"{sorted[i]} < {sorted[i + 1]}");
        Assert.True(((PathKey)"10").CompareTo("2") < 0);
    }

    [Fact]
    public void String_order_is_not_culture_aware()
    {
        // Culture-aware comparison puts "a" before "B" and ignores case first; ordinal does not.
        var previous = Thread.CurrentThread.CurrentCulture;
        try
        {
            Thread.CurrentThread.CurrentCulture = new System.Globalization.CultureInfo("tr-TR");
            Assert.True(((PathKey)"B").CompareTo("a") < 0);
            Assert.True(((PathKey)"I").CompareTo("i") < 0);
            Assert.True(((PathKey)"Z").CompareTo("a") < 0);
        }
        finally
        {
            Thread.CurrentThread.CurrentCulture = previous;
        }
    }

    [Fact]
    public void Mixed_siblings_iterate_ints_first_then_ordinal_strings()
    {
        var s = State.Create(new Models.Node { ["b"] = 1, [10] = 2, ["A"] = 3, [2] = 4, ["10"] = 5, ["a"] = 6 });
        Assert.Equal(new PathKey[] { 2, 10, "10", "A", "a", "b" }, s.Keys.ToArray());
        Assert.Equal(new PathKey[] { 2, 10, "10", "A", "a", "b" }, s.Select(kv => kv.Key).ToArray());
        Assert.Equal(new object?[] { 4, 2, 5, 3, 6, 1 }, s.Values.ToArray());
    }

    [Fact]
    public void Path_basics()
    {
        var p = KeyPath.Of("layers", 0, "kernel");
        Assert.Equal(3, p.Count);
        Assert.Equal((PathKey)"layers", p[0]);
        Assert.Equal((PathKey)0, p[1]);
        Assert.Equal((PathKey)"kernel", p[2]);
        Assert.Equal("layers/0/kernel", p.ToString());
        Assert.Equal(new PathKey[] { "layers", 0, "kernel" }, p.ToArray());
        Assert.Empty(KeyPath.Empty);
        Assert.Equal(0, KeyPath.Empty.Count);
        Assert.Equal("", KeyPath.Empty.ToString());
    }

    [Fact]
    public void Append_makes_a_new_path_and_leaves_the_old_one_alone()
    {
        var p = KeyPath.Of("layers");
        var q = p.Append(0).Append("kernel");
        Assert.Equal(KeyPath.Of("layers", 0, "kernel"), q);
        Assert.Equal(KeyPath.Of("layers"), p);
        Assert.Single(p);
    }

    [Fact]
    public void Paths_have_value_equality_and_consistent_hashes()
    {
        var a = KeyPath.Of("a", 0);
        var b = KeyPath.Empty.Append("a").Append(0);
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(KeyPath.Of("a", 0), KeyPath.Of("a", "0"));
        Assert.NotEqual(KeyPath.Of("a"), KeyPath.Of("a", 0));
        Assert.False(a.Equals(null));
    }

    [Fact]
    public void Paths_compare_lexicographically_with_a_prefix_first()
    {
        var sorted = new[]
        {
            KeyPath.Empty,
            KeyPath.Of(0),
            KeyPath.Of(0, "z"),
            KeyPath.Of(1),
            KeyPath.Of("a"),
            KeyPath.Of("a", 0),
            KeyPath.Of("a", 0, "b"),
            KeyPath.Of("a", 2),
            KeyPath.Of("a", "0"),
            KeyPath.Of("b"),
        };
        var shuffled = sorted.Reverse().ToArray();
        Assert.Equal(sorted, shuffled.OrderBy(p => p).ToArray());
        Assert.True(KeyPath.Of("a").CompareTo(KeyPath.Of("a", 0)) < 0);
        Assert.True(KeyPath.Of("a", 0).CompareTo(KeyPath.Of("a")) > 0);
        Assert.Equal(0, KeyPath.Of("a", 0).CompareTo(KeyPath.Of("a", 0)));
    }

    [Fact]
    public void Path_text_is_what_PathMatches_sees()
    {
        Assert.Equal("count", KeyPath.Of("count").ToString());
        Assert.Equal("0/1/x", KeyPath.Of(0, 1, "x").ToString());
    }

    [Fact]
    public void A_null_name_is_rejected()
    {
        var e = Assert.Throws<ArgumentNullException>(() => { PathKey k = (string)null!; return k; });
        Assert.NotNull(e.ParamName);
    }

    [Fact]
    public void KeyPath_Of_rejects_null()
    {
        var e = Assert.Throws<ArgumentNullException>(() => KeyPath.Of(null!));
        Assert.Equal("keys", e.ParamName);
    }
}
