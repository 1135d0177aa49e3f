using System.Numerics.Tensors;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace StateTree.Checkpoint;

/// <summary>
/// Loads a checkpoint into a template state, PyTorch's <c>model.load_state_dict(sd, strict=…)</c> made precise:
/// the template (a freshly built model's state) decides the structure, the Variable types and the value
/// representations; the checkpoint supplies the values; <see cref="LoadOptions"/> says, per kind of difference,
/// whether it fails the load, is skipped, or is reported.
/// </summary>
/// <remarks>
/// <para>Paths match exactly, or else key by key by their text (a checkpoint's int key <c>0</c> fits a template's
/// string key <c>"0"</c> and the other way round) when that text names a single template path.</para>
/// <para>For each matched leaf: a checkpoint <see cref="Variable"/> (a file saved with its structure) must have the
/// template leaf's runtime type, and then it is loaded as it is, metadata included; a raw checkpoint value (a file
/// without structure, e.g. written by Python) replaces the template variable's value through
/// <see cref="Variable.WithValue(object)"/>, keeping the template's type and metadata. The value must have the
/// template value's dtype and shape (<see cref="LoadOptions.DtypeMismatch"/>, <see cref="LoadOptions.ShapeMismatch"/>);
/// when both agree but the containers differ (a <c>Tensor&lt;float&gt;</c> from a file where the template holds a
/// <c>float[]</c> or a <c>float[,]</c>, or the other way round) the value is copied into the template's container.
/// A template leaf whose value is null accepts any value.</para>
/// <para>Nothing is loaded when the options make any problem an error: the exception lists every such problem.</para>
/// </remarks>
public static class CheckpointLoader
{
    /// <summary>
    /// Loads a safetensors checkpoint (a <c>.safetensors</c> file, a sharded checkpoint's index <c>.json</c>, or a
    /// folder holding either; see <see cref="Safetensors.Load(string)"/>) into <paramref name="template"/>, strictly:
    /// every difference is an error.
    /// </summary>
    /// <param name="template">The state that decides the structure, Variable types and value representations.</param>
    /// <param name="path">The checkpoint.</param>
    /// <returns>The loaded state (the template's structure, empty sub-states included) and the report.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="template"/> or <paramref name="path"/> is null.</exception>
    /// <exception cref="LoadMismatchException">The checkpoint does not fit the template; the message lists every problem.</exception>
    public static (State State, LoadReport Report) LoadInto(State template, string path) => LoadInto(template, path, null);

    /// <summary>
    /// Loads a safetensors checkpoint (a <c>.safetensors</c> file, a sharded checkpoint's index <c>.json</c>, or a
    /// folder holding either; see <see cref="Safetensors.Load(string)"/>) into <paramref name="template"/>.
    /// </summary>
    /// <param name="template">The state that decides the structure, Variable types and value representations.</param>
    /// <param name="path">The checkpoint.</param>
    /// <param name="options">What to do about each kind of difference; null: <see cref="LoadOptions.Strict"/>.</param>
    /// <returns>The loaded state (the template's structure, empty sub-states included) and the report of the problems tolerated under <see cref="LoadPolicy.Report"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="template"/> or <paramref name="path"/> is null.</exception>
    /// <exception cref="LoadMismatchException">
    /// Some problem's policy is <see cref="LoadPolicy.Error"/>. The message lists every such problem, grouped by kind,
    /// paths in Python tuple notation, and says when one constant prefix explains the missing and unexpected paths.
    /// </exception>
    public static (State State, LoadReport Report) LoadInto(State template, string path, LoadOptions? options)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(path);
        var loaded = Safetensors.Load(path);
        return LoadEngine.Run(template, loaded.Flatten(), options ?? LoadOptions.Strict, path, LoadEngine.AdaptContainer);
    }

    /// <summary>
    /// Loads an already loaded checkpoint state into <paramref name="template"/>, strictly: every difference is an
    /// error. The comparison is the one the file overloads make, without a file.
    /// </summary>
    /// <param name="template">The state that decides the structure, Variable types and value representations.</param>
    /// <param name="loaded">The checkpoint's state.</param>
    /// <returns>The loaded state and the report.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="template"/> or <paramref name="loaded"/> is null.</exception>
    /// <exception cref="LoadMismatchException">The checkpoint does not fit the template; the message lists every problem.</exception>
    public static (State State, LoadReport Report) LoadInto(State template, State loaded) => LoadInto(template, loaded, null);

    /// <summary>
    /// Loads an already loaded checkpoint state into <paramref name="template"/>: the comparison the file overloads
    /// make, without a file (for states read by other means, and for tests).
    /// </summary>
    /// <param name="template">The state that decides the structure, Variable types and value representations.</param>
    /// <param name="loaded">The checkpoint's state.</param>
    /// <param name="options">What to do about each kind of difference; null: <see cref="LoadOptions.Strict"/>.</param>
    /// <returns>The loaded state (the template's structure, empty sub-states included) and the report of the problems tolerated under <see cref="LoadPolicy.Report"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="template"/> or <paramref name="loaded"/> is null.</exception>
    /// <exception cref="LoadMismatchException">Some problem's policy is <see cref="LoadPolicy.Error"/>; the message lists every such problem.</exception>
    public static (State State, LoadReport Report) LoadInto(State template, State loaded, LoadOptions? options)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(loaded);
        return LoadEngine.Run(template, loaded.Flatten(), options ?? LoadOptions.Strict, null, LoadEngine.AdaptContainer);
    }
}

/// <summary>The value a checkpoint leaf gives for a template value, or why it gives none.</summary>
/// <param name="Ok">Whether <paramref name="Value"/> holds the adapted value.</param>
/// <param name="Value">The adapted value.</param>
/// <param name="Found">When not <paramref name="Ok"/>: what the checkpoint holds and why it does not fit.</param>
internal readonly record struct Adapted(bool Ok, object? Value, string? Found);

/// <summary>Turns a checkpoint value into one for the template value (the first argument).</summary>
internal delegate Adapted LeafAdapter(object? templateValue, object? loadedValue);

/// <summary>The comparison behind every LoadInto: match paths, check each pair, apply the policies.</summary>
internal static class LoadEngine
{
    /// <summary>Keeps the value, or copies it into the template's container (array, multi-dimensional array, tensor).</summary>
    public static readonly LeafAdapter AdaptContainer = (t, v) => new Adapted(true, Containers.Adapt(t, v), null);

    public static (State State, LoadReport Report) Run(
        State template,
        IReadOnlyList<(KeyPath Path, object? Leaf)> loaded,
        LoadOptions options,
        string? file,
        LeafAdapter adapt)
    {
        var templateFlat = template.Flatten();
        var templateLeaves = new Dictionary<KeyPath, object?>(templateFlat.Count);
        foreach (var (path, leaf) in templateFlat)
            templateLeaves[path] = leaf;

        // Exact paths first, so that a text match never takes a template path an exact match wants.
        var matched = new Dictionary<KeyPath, object?>(Math.Min(templateFlat.Count, loaded.Count));
        var unmatched = new List<(KeyPath Path, object? Leaf)>();
        foreach (var (path, leaf) in loaded)
        {
            if (templateLeaves.ContainsKey(path) && matched.TryAdd(path, leaf))
                continue;
            unmatched.Add((path, leaf));
        }

        var problems = new List<LoadProblem>();
        if (unmatched.Count > 0)
        {
            var byText = TextIndex(templateFlat);
            foreach (var (path, leaf) in unmatched)
            {
                if (byText.TryGetValue(path, out var target) && target is not null && matched.TryAdd(target, leaf))
                    continue;
                problems.Add(new LoadProblem(LoadProblemKind.Unexpected, path, null, null));
            }
        }

        foreach (var (path, _) in templateFlat)
        {
            if (!matched.ContainsKey(path))
                problems.Add(new LoadProblem(LoadProblemKind.Missing, path, null, null));
        }

        var replacements = new Dictionary<KeyPath, object?>(matched.Count);
        var pathProblems = new List<LoadProblem>(3);
        foreach (var (path, leaf) in matched)
        {
            pathProblems.Clear();
            var replacement = Compare(path, templateLeaves[path], leaf, adapt, pathProblems);
            if (pathProblems.Count == 0)
                replacements[path] = replacement;
            else
                problems.AddRange(pathProblems);
        }

        problems.Sort((a, b) => a.Kind != b.Kind ? a.Kind.CompareTo(b.Kind) : a.Path.CompareTo(b.Path));

        var errors = problems.Where(p => options.PolicyFor(p.Kind) == LoadPolicy.Error).ToList();
        var reported = problems.Where(p => options.PolicyFor(p.Kind) == LoadPolicy.Report).ToList();
        var hint = PrefixHint(problems);
        if (errors.Count > 0)
            throw new LoadMismatchException(file, errors, MentionsKeys(errors) ? hint : null);

        var state = replacements.Count == 0 ? template : Replace(template, replacements);
        return (state, new LoadReport(reported, replacements.Count, MentionsKeys(reported) ? hint : null));
    }

    /// <summary>The template with some leaves replaced, its empty sub-states kept (Map, a flat operation, drops them).</summary>
    private static State Replace(State template, Dictionary<KeyPath, object?> replacements)
    {
        var state = template.Map((path, leaf) => replacements.TryGetValue(path, out var value) ? value : leaf);
        var stack = new Stack<(KeyPath Path, State Node)>();
        stack.Push((KeyPath.Empty, template));
        while (stack.Count > 0)
        {
            var (path, node) = stack.Pop();
            foreach (var (key, child) in node)
            {
                if (child is State sub)
                {
                    if (sub.Count == 0)
                        state = state.SetItem(path.Append(key), State.Empty);
                    else
                        stack.Push((path.Append(key), sub));
                }
            }
        }

        return state;
    }

    /// <summary>The new leaf for a matched pair; adds a problem per kind that goes wrong.</summary>
    private static object? Compare(KeyPath path, object? templateLeaf, object? loadedLeaf, LeafAdapter adapt, List<LoadProblem> problems)
    {
        var templateVariable = templateLeaf as Variable;
        var loadedVariable = loadedLeaf as Variable;
        if (loadedVariable is not null && templateVariable?.GetType() != loadedVariable.GetType())
        {
            problems.Add(new LoadProblem(
                LoadProblemKind.VariableTypeMismatch,
                path,
                templateVariable is null ? $"raw value ({TypeText(templateLeaf)})" : TypeName(templateVariable.GetType()),
                TypeName(loadedVariable.GetType())));
        }

        var templateValue = templateVariable is null ? templateLeaf : templateVariable.Value;
        var loadedValue = loadedVariable is null ? loadedLeaf : loadedVariable.Value;
        var adapted = adapt(templateValue, loadedValue);
        if (!adapted.Ok)
        {
            problems.Add(new LoadProblem(LoadProblemKind.DtypeMismatch, path, DtypeText(templateValue), adapted.Found));
            return null;
        }

        var value = adapted.Value;
        CheckValue(path, templateValue, value, problems);
        if (loadedVariable is not null)
            return ReferenceEquals(value, loadedValue) ? loadedVariable : loadedVariable.WithValue(value);
        return templateVariable is null ? value : templateVariable.WithValue(value);
    }

    /// <summary>Dtype and shape of the value against the template's; a null template value accepts anything.</summary>
    private static void CheckValue(KeyPath path, object? expected, object? actual, List<LoadProblem> problems)
    {
        if (expected is null)
            return;
        if (actual is null)
        {
            problems.Add(new LoadProblem(LoadProblemKind.DtypeMismatch, path, DtypeText(expected), "null"));
            return;
        }

        var describedExpected = TensorLeaf.TryDescribe(expected, out var expectedDtype, out var expectedShape);
        var describedActual = TensorLeaf.TryDescribe(actual, out var actualDtype, out var actualShape);
        if (describedExpected && describedActual)
        {
            if (expectedDtype != actualDtype)
                problems.Add(new LoadProblem(LoadProblemKind.DtypeMismatch, path, expectedDtype, actualDtype));
            if (!expectedShape!.AsSpan().SequenceEqual(actualShape))
                problems.Add(new LoadProblem(LoadProblemKind.ShapeMismatch, path, ShapeText(expectedShape!), ShapeText(actualShape!)));
        }
        else if (describedExpected || describedActual || expected.GetType() != actual.GetType())
        {
            problems.Add(new LoadProblem(LoadProblemKind.DtypeMismatch, path, DtypeText(expected), DtypeText(actual)));
        }
    }

    /// <summary>A value's dtype (<c>F32</c>) when it is a tensor, array or scalar the format knows, else its .NET type.</summary>
    internal static string DtypeText(object? value) =>
        value is null ? "null"
        : TensorLeaf.TryDescribe(value, out var dtype, out _) ? dtype
        : TypeText(value);

    private static string TypeText(object? value) => value is null ? "null" : TypeName(value.GetType());

    /// <summary>C#-style type names: <c>Param</c>, <c>Tensor&lt;float&gt;</c> as <c>Tensor&lt;Single&gt;</c>, <c>float[]</c> as <c>Single[]</c>.</summary>
    internal static string TypeName(Type type) =>
        type.IsGenericType
            ? $"{type.Name[..type.Name.IndexOf('`')]}<{string.Join(", ", type.GetGenericArguments().Select(TypeName))}>"
            : type.Name;

    internal static string ShapeText(long[] shape) => "[" + string.Join(", ", shape) + "]";

    private static bool MentionsKeys(List<LoadProblem> problems) =>
        problems.Exists(p => p.Kind is LoadProblemKind.Missing or LoadProblemKind.Unexpected);

    /// <summary>Template paths by the texts of their keys; null where two template paths share a text.</summary>
    private static Dictionary<KeyPath, KeyPath?> TextIndex(IReadOnlyList<(KeyPath Path, object? Leaf)> templateFlat)
    {
        var index = new Dictionary<KeyPath, KeyPath?>(templateFlat.Count, KeyTextComparer.Instance);
        foreach (var (path, _) in templateFlat)
        {
            if (!index.TryAdd(path, path))
                index[path] = null;
        }

        return index;
    }

    /// <summary>
    /// The sentence for a constant prefix that explains every missing and unexpected path: every unexpected path is
    /// a missing path with the prefix in front (the checkpoint nests the state, as PyTorch's DataParallel does with
    /// <c>module.</c>), or every missing path is an unexpected one with the prefix in front (the template nests it).
    /// </summary>
    internal static string? PrefixHint(IReadOnlyList<LoadProblem> problems)
    {
        var missing = problems.Where(p => p.Kind == LoadProblemKind.Missing).Select(p => p.Path).ToList();
        var unexpected = problems.Where(p => p.Kind == LoadProblemKind.Unexpected).Select(p => p.Path).ToList();
        if (missing.Count == 0 || missing.Count != unexpected.Count)
            return null;

        if (ConstantPrefix(unexpected, missing) is { } extra)
        {
            return $"every unexpected path is a missing path with the prefix {extra.ToTupleString()} in front (dotted: '{Dotted(extra)}'): "
                + $"the checkpoint holds the state under {extra.ToTupleString()}; load the checkpoint's sub-state at that path instead.";
        }

        if (ConstantPrefix(missing, unexpected) is { } lacking)
        {
            return $"every missing path is an unexpected path with the prefix {lacking.ToTupleString()} in front (dotted: '{Dotted(lacking)}'): "
                + $"the template holds the state under {lacking.ToTupleString()}; load into the template's sub-state at that path instead.";
        }

        return null;
    }

    private static string Dotted(KeyPath prefix) => string.Join(".", prefix) + ".";

    /// <summary>The prefix P such that <paramref name="longer"/> is exactly P + each of <paramref name="shorter"/>, if any.</summary>
    private static KeyPath? ConstantPrefix(List<KeyPath> longer, List<KeyPath> shorter)
    {
        var targets = shorter.ToHashSet();
        var sample = longer[0].ToArray();
        for (var k = 1; k < sample.Length; k++)
        {
            if (!targets.Contains(KeyPath.Of(sample[k..])))
                continue;
            var prefix = KeyPath.Of(sample[..k]);
            var covered = new HashSet<KeyPath>();
            var all = longer.All(path =>
            {
                if (path.Count <= k || !path.StartsWith(prefix))
                    return false;
                var rest = KeyPath.Of(path.ToArray()[k..]);
                return targets.Contains(rest) && covered.Add(rest);
            });
            if (all && covered.Count == targets.Count)
                return prefix;
        }

        return null;
    }

    /// <summary>Paths equal when they have the same number of keys and each key has the same text.</summary>
    private sealed class KeyTextComparer : IEqualityComparer<KeyPath>
    {
        public static readonly KeyTextComparer Instance = new();

        public bool Equals(KeyPath? x, KeyPath? y)
        {
            if (ReferenceEquals(x, y))
                return true;
            if (x is null || y is null || x.Count != y.Count)
                return false;
            var xs = x.ToArray();
            var ys = y.ToArray();
            for (var i = 0; i < xs.Length; i++)
            {
                if (!string.Equals(xs[i].ToString(), ys[i].ToString(), StringComparison.Ordinal))
                    return false;
            }

            return true;
        }

        public int GetHashCode(KeyPath path)
        {
            var hash = new HashCode();
            foreach (var key in path.ToArray())
                hash.Add(key.ToString(), StringComparer.Ordinal);
            return hash.ToHashCode();
        }
    }
}

/// <summary>Copies values between the containers of one element type: <c>T[]</c>, <c>T[,…]</c> and <c>Tensor&lt;T&gt;</c>.</summary>
internal static class Containers
{
    private static readonly MethodInfo ConvertMethod =
        typeof(Containers).GetMethod(nameof(Convert), BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>
    /// <paramref name="value"/> in the container of <paramref name="template"/> when both hold the same element type
    /// in the same shape in different containers; otherwise <paramref name="value"/> itself.
    /// </summary>
    public static object? Adapt(object? template, object? value)
    {
        if (template is null || value is null || template.GetType() == value.GetType())
            return value;
        if (!TryShape(template, out var element, out var shape) || !TryShape(value, out var valueElement, out var valueShape))
            return value;
        if (element != valueElement || !shape.AsSpan().SequenceEqual(valueShape))
            return value;
        return ConvertMethod.MakeGenericMethod(element).Invoke(null, [template, value]);
    }

    /// <summary>Element type and shape of an array (any rank) or a <c>Tensor&lt;T&gt;</c>.</summary>
    private static bool TryShape(object value, out Type element, out long[] shape)
    {
        switch (value)
        {
            case Array array:
                element = array.GetType().GetElementType()!;
                shape = new long[array.Rank];
                for (var d = 0; d < array.Rank; d++)
                    shape[d] = array.GetLongLength(d);
                return true;
            case IReadOnlyTensor tensor when TensorElement(value.GetType()) is { } t:
                element = t;
                var lengths = tensor.Lengths;
                shape = new long[lengths.Length];
                for (var d = 0; d < lengths.Length; d++)
                    shape[d] = lengths[d];
                return true;
            default:
                element = typeof(object);
                shape = [];
                return false;
        }
    }

    private static Type? TensorElement(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Tensor<>) ? type.GetGenericArguments()[0] : null;

    private static object Convert<T>(object template, object value)
    {
        var elements = value switch
        {
            T[] array => array,
            Array array => Elements<T>(array).ToArray(),
            Tensor<T> tensor => Flatten(tensor),
            _ => throw new InvalidOperationException("Not a container."),
        };

        switch (template)
        {
            case T[]:
                return elements;
            case Array shaped:
                var lengths = new int[shaped.Rank];
                for (var d = 0; d < shaped.Rank; d++)
                    lengths[d] = shaped.GetLength(d);
                var result = Array.CreateInstance(typeof(T), lengths);
                elements.CopyTo(Elements<T>(result));
                return result;
            default:
                var shape = ((Tensor<T>)template).Lengths;
                return Tensor.Create(elements, shape);
        }
    }

    private static T[] Flatten<T>(Tensor<T> tensor)
    {
        var elements = new T[checked((int)tensor.FlattenedLength)];
        tensor.FlattenTo(elements);
        return elements;
    }

    /// <summary>The elements of an array of any rank, in row-major order, without copying.</summary>
    private static Span<T> Elements<T>(Array array) =>
        MemoryMarshal.CreateSpan(ref Unsafe.As<byte, T>(ref MemoryMarshal.GetArrayDataReference(array)), checked((int)array.LongLength));
}
