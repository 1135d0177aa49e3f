using System.Globalization;

namespace StateTree.Benchmarks;

/// <summary>
/// The "naive" baseline: what a .NET developer writes by hand for the same jobs. A state is a nested
/// <c>Dictionary&lt;string, object&gt;</c> (int keys as their text) and paths are strings joined with
/// '/'. Operations that return a new state in StateTree copy here too, so neither side gets to mutate
/// its input; where copying only part of the tree is the obvious thing to write (SetItem,
/// ReplaceByPureDict), the baseline does that rather than a full deep copy.
/// </summary>
public static class Naive
{
    public static Dictionary<string, object> Build(IEnumerable<(KeyPath Path, object? Leaf)> leaves)
    {
        var root = new Dictionary<string, object>();
        foreach (var (path, leaf) in leaves)
        {
            var node = root;
            for (var i = 0; i < path.Count - 1; i++)
            {
                var key = path[i].ToString();
                if (!node.TryGetValue(key, out var child))
                    node[key] = child = new Dictionary<string, object>();
                node = (Dictionary<string, object>)child;
            }

            node[path[path.Count - 1].ToString()] = leaf!;
        }

        return root;
    }

    public static List<(string Path, object Leaf)> Flatten(Dictionary<string, object> state)
    {
        var result = new List<(string, object)>();
        Walk(state, "");
        return result;

        void Walk(Dictionary<string, object> node, string prefix)
        {
            foreach (var (key, value) in node)
            {
                var path = prefix.Length == 0 ? key : prefix + "/" + key;
                if (value is Dictionary<string, object> child)
                    Walk(child, path);
                else
                    result.Add((path, value));
            }
        }
    }

    public static Dictionary<string, object> FromFlat(List<(string Path, object Leaf)> flat)
    {
        var root = new Dictionary<string, object>();
        foreach (var (path, leaf) in flat)
        {
            var keys = path.Split('/');
            var node = root;
            for (var i = 0; i < keys.Length - 1; i++)
            {
                if (!node.TryGetValue(keys[i], out var child))
                    node[keys[i]] = child = new Dictionary<string, object>();
                node = child as Dictionary<string, object>
                    ?? throw new ArgumentException($"'{path}' goes through a leaf.");
            }

            node[keys[^1]] = leaf;
        }

        return root;
    }

    /// <summary>The leaves that match, with empty dictionaries pruned.</summary>
    public static Dictionary<string, object> Filter(Dictionary<string, object> node, Func<string, object, bool> match) =>
        FilterAt(node, "", match);

    private static Dictionary<string, object> FilterAt(Dictionary<string, object> node, string prefix, Func<string, object, bool> match)
    {
        var result = new Dictionary<string, object>();
        foreach (var (key, value) in node)
        {
            var path = prefix.Length == 0 ? key : prefix + "/" + key;
            if (value is Dictionary<string, object> child)
            {
                var kept = FilterAt(child, path, match);
                if (kept.Count > 0)
                    result[key] = kept;
            }
            else if (match(path, value))
            {
                result[key] = value;
            }
        }

        return result;
    }

    /// <summary>One pass; each leaf goes to the first group that matches it, and every leaf must match one.</summary>
    public static Dictionary<string, object>[] Split(Dictionary<string, object> node, params Func<string, object, bool>[] groups) =>
        SplitAt(node, "", groups);

    private static Dictionary<string, object>[] SplitAt(Dictionary<string, object> node, string prefix, Func<string, object, bool>[] groups)
    {
        var result = new Dictionary<string, object>[groups.Length];
        for (var g = 0; g < groups.Length; g++)
            result[g] = [];
        foreach (var (key, value) in node)
        {
            var path = prefix.Length == 0 ? key : prefix + "/" + key;
            if (value is Dictionary<string, object> child)
            {
                var parts = SplitAt(child, path, groups);
                for (var g = 0; g < groups.Length; g++)
                {
                    if (parts[g].Count > 0)
                        result[g][key] = parts[g];
                }
            }
            else
            {
                var g = Array.FindIndex(groups, match => match(path, value));
                if (g < 0)
                    throw new ArgumentException($"No group takes '{path}'.");
                result[g][key] = value;
            }
        }

        return result;
    }

    /// <summary>A deep copy of the first state with the later ones merged in, the later winning.</summary>
    public static Dictionary<string, object> Merge(params Dictionary<string, object>[] states)
    {
        var result = DeepCopy(states[0]);
        for (var i = 1; i < states.Length; i++)
            MergeInto(result, states[i]);
        return result;
    }

    private static void MergeInto(Dictionary<string, object> target, Dictionary<string, object> source)
    {
        foreach (var (key, value) in source)
        {
            if (value is Dictionary<string, object> child)
            {
                if (target.TryGetValue(key, out var existing) && existing is Dictionary<string, object> mine)
                    MergeInto(mine, child);
                else
                    target[key] = DeepCopy(child);
            }
            else
            {
                target[key] = value;
            }
        }
    }

    public static Dictionary<string, object> DeepCopy(Dictionary<string, object> node)
    {
        var copy = new Dictionary<string, object>(node.Count);
        foreach (var (key, value) in node)
            copy[key] = value is Dictionary<string, object> child ? DeepCopy(child) : value;
        return copy;
    }

    public static Dictionary<string, object?> ToPureDict(Dictionary<string, object> node)
    {
        var result = new Dictionary<string, object?>(node.Count);
        foreach (var (key, value) in node)
        {
            result[key] = value switch
            {
                Dictionary<string, object> child => ToPureDict(child),
                Variable v => v.Value,
                _ => value,
            };
        }

        return result;
    }

    /// <summary>Keys that parse as ints become ints (int.TryParse: what a hand-written version checks).</summary>
    public static Dictionary<object, object?> RestoreIntPaths(Dictionary<string, object?> node)
    {
        var result = new Dictionary<object, object?>(node.Count);
        foreach (var (key, value) in node)
        {
            object newKey = int.TryParse(key, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) ? i : key;
            result[newKey] = value is Dictionary<string, object?> child ? RestoreIntPaths(child) : value;
        }

        return result;
    }

    /// <summary>A copy of the state with the leaves the pure dict mentions replaced; unknown keys are errors.</summary>
    public static Dictionary<string, object> ReplaceByPureDict(Dictionary<string, object> node, Dictionary<string, object?> pure)
    {
        var result = new Dictionary<string, object>(node);
        foreach (var (key, value) in pure)
        {
            if (!node.TryGetValue(key, out var current))
                throw new ArgumentException($"Key '{key}' is not in the state.");
            result[key] = value is Dictionary<string, object?> child
                ? ReplaceByPureDict(current as Dictionary<string, object> ?? throw new ArgumentException($"'{key}' is a leaf."), child)
                : current is Variable v ? v.WithValue(value) : value!;
        }

        return result;
    }

    public static Dictionary<string, object> Map(Dictionary<string, object> node, Func<string, object, object> f) =>
        MapAt(node, "", f);

    private static Dictionary<string, object> MapAt(Dictionary<string, object> node, string prefix, Func<string, object, object> f)
    {
        var result = new Dictionary<string, object>(node.Count);
        foreach (var (key, value) in node)
        {
            var path = prefix.Length == 0 ? key : prefix + "/" + key;
            result[key] = value is Dictionary<string, object> child ? MapAt(child, path, f) : f(path, value);
        }

        return result;
    }

    public static Dictionary<string, object> Zip(Dictionary<string, object> a, Dictionary<string, object> b, Func<object, object, object> f)
    {
        if (a.Count != b.Count)
            throw new ArgumentException("The states differ in structure.");
        var result = new Dictionary<string, object>(a.Count);
        foreach (var (key, x) in a)
        {
            if (!b.TryGetValue(key, out var y))
                throw new ArgumentException($"Key '{key}' is only in the first state.");
            result[key] = (x, y) switch
            {
                (Dictionary<string, object> dx, Dictionary<string, object> dy) => Zip(dx, dy, f),
                (Dictionary<string, object>, _) or (_, Dictionary<string, object>) =>
                    throw new ArgumentException($"Key '{key}' is a leaf in one state only."),
                _ => f(x, y),
            };
        }

        return result;
    }

    /// <summary>Copies the dictionaries along the path (sharing the rest) and sets the leaf.</summary>
    public static Dictionary<string, object> SetItem(Dictionary<string, object> root, string path, object leaf)
    {
        var keys = path.Split('/');
        var result = new Dictionary<string, object>(root);
        var node = result;
        for (var i = 0; i < keys.Length - 1; i++)
        {
            var copy = node.TryGetValue(keys[i], out var child)
                ? new Dictionary<string, object>(child as Dictionary<string, object> ?? throw new ArgumentException($"'{path}' goes through a leaf."))
                : new Dictionary<string, object>();
            node[keys[i]] = copy;
            node = copy;
        }

        node[keys[^1]] = leaf;
        return result;
    }

    public static bool DeepEquals(Dictionary<string, object> a, Dictionary<string, object> b)
    {
        if (a.Count != b.Count)
            return false;
        foreach (var (key, x) in a)
        {
            if (!b.TryGetValue(key, out var y))
                return false;
            var same = (x, y) switch
            {
                (Dictionary<string, object> dx, Dictionary<string, object> dy) => DeepEquals(dx, dy),
                (Dictionary<string, object>, _) or (_, Dictionary<string, object>) => false,
                _ => Equals(x, y),
            };
            if (!same)
                return false;
        }

        return true;
    }

    /// <summary>Order-free (a sum over entries), as dictionary equality is.</summary>
    public static int DeepHash(Dictionary<string, object> node)
    {
        var h = node.Count;
        foreach (var (key, value) in node)
            h += HashCode.Combine(key, value is Dictionary<string, object> child ? DeepHash(child) : value.GetHashCode());
        return h;
    }
}
