using System.Text;

namespace StateTree.Checkpoint;

/// <summary>A kind of difference between a template and a checkpoint loaded into it.</summary>
public enum LoadProblemKind
{
    /// <summary>A leaf path of the template that the checkpoint does not have.</summary>
    Missing = 0,

    /// <summary>A leaf path of the checkpoint that the template does not have.</summary>
    Unexpected = 1,

    /// <summary>Tensors, arrays or scalars of different shapes.</summary>
    ShapeMismatch = 2,

    /// <summary>Different element types, different .NET types, or a JSON value that cannot be read as the template's type.</summary>
    DtypeMismatch = 3,

    /// <summary>A recorded <see cref="Variable"/> type other than the template leaf's runtime type.</summary>
    VariableTypeMismatch = 4,
}

/// <summary>One difference between a template and a checkpoint, at one leaf path.</summary>
/// <param name="Kind">What is wrong.</param>
/// <param name="Path">The leaf path: the template's for mismatches and missing paths, the checkpoint's for unexpected ones.</param>
/// <param name="Expected">What the template has (<c>[1000, 512]</c>, <c>F32</c>, <c>Param</c>); null for missing and unexpected paths.</param>
/// <param name="Found">What the checkpoint has; null for missing and unexpected paths.</param>
public sealed record LoadProblem(LoadProblemKind Kind, KeyPath Path, string? Expected, string? Found)
{
    /// <summary>
    /// The path in Python tuple notation, followed for mismatches by both sides:
    /// <c>('head', 'kernel'): checkpoint [10, 512], template [1000, 512]</c>.
    /// </summary>
    /// <returns>The text.</returns>
    public override string ToString() =>
        Expected is null && Found is null
            ? Path.ToTupleString()
            : $"{Path.ToTupleString()}: checkpoint {Found}, template {Expected}";
}

/// <summary>
/// What a load into a template found and tolerated: the problems of every kind whose policy is
/// <see cref="LoadPolicy.Report"/>, in path order within each kind, and how many leaves were loaded.
/// </summary>
public sealed class LoadReport
{
    internal LoadReport(IReadOnlyList<LoadProblem> problems, int loadedCount, string? hint)
    {
        Problems = problems;
        LoadedCount = loadedCount;
        Hint = hint;
        Missing = [.. problems.Where(p => p.Kind == LoadProblemKind.Missing).Select(p => p.Path)];
        Unexpected = [.. problems.Where(p => p.Kind == LoadProblemKind.Unexpected).Select(p => p.Path)];
        ShapeMismatches = [.. problems.Where(p => p.Kind == LoadProblemKind.ShapeMismatch)];
        DtypeMismatches = [.. problems.Where(p => p.Kind == LoadProblemKind.DtypeMismatch)];
        VariableTypeMismatches = [.. problems.Where(p => p.Kind == LoadProblemKind.VariableTypeMismatch)];
    }

    /// <summary>Every reported problem, grouped by kind (in <see cref="LoadProblemKind"/> order), paths in order within a kind.</summary>
    public IReadOnlyList<LoadProblem> Problems { get; }

    /// <summary>The reported template paths that the checkpoint does not have (their leaves kept the template's values).</summary>
    public IReadOnlyList<KeyPath> Missing { get; }

    /// <summary>The reported checkpoint paths that the template does not have (they were dropped).</summary>
    public IReadOnlyList<KeyPath> Unexpected { get; }

    /// <summary>The reported shape mismatches (those leaves kept the template's values).</summary>
    public IReadOnlyList<LoadProblem> ShapeMismatches { get; }

    /// <summary>The reported dtype mismatches (those leaves kept the template's values).</summary>
    public IReadOnlyList<LoadProblem> DtypeMismatches { get; }

    /// <summary>The reported Variable-type mismatches (those leaves kept the template's values).</summary>
    public IReadOnlyList<LoadProblem> VariableTypeMismatches { get; }

    /// <summary>The number of template leaves that received the checkpoint's value.</summary>
    public int LoadedCount { get; }

    /// <summary>
    /// When one constant prefix explains every missing and unexpected path (every unexpected path is a missing
    /// path with <c>('module',)</c> in front, or the other way round), a sentence saying so; else null.
    /// </summary>
    public string? Hint { get; }

    /// <summary>True when nothing was reported.</summary>
    public bool IsClean => Problems.Count == 0;

    /// <summary>The loaded count, then the problems grouped by kind, one path per line, then the hint.</summary>
    /// <returns>The text.</returns>
    public override string ToString()
    {
        var text = new StringBuilder($"LoadReport: {LoadText.Count(LoadedCount, "leaf", "leaves")} loaded, {LoadText.Count(Problems.Count, "problem", "problems")} reported");
        LoadText.AppendGroups(text, Problems, Hint);
        return text.ToString();
    }
}

/// <summary>
/// A load into a template found problems that its <see cref="LoadOptions"/> make errors. The message lists
/// every one of them, grouped by kind, paths in Python tuple notation, and says when one constant prefix
/// explains the missing and unexpected paths. Nothing was loaded.
/// </summary>
public sealed class LoadMismatchException : Exception
{
    /// <summary>An exception listing the given problems.</summary>
    /// <param name="file">The checkpoint file, or null when the checkpoint was a state in memory.</param>
    /// <param name="problems">The problems that are errors, grouped by kind.</param>
    /// <param name="hint">The prefix hint, or null.</param>
    internal LoadMismatchException(string? file, IReadOnlyList<LoadProblem> problems, string? hint)
        : base(Describe(file, problems, hint))
    {
        FilePath = file;
        Problems = problems;
        Hint = hint;
    }

    /// <summary>The checkpoint file, or null when the checkpoint was a state in memory.</summary>
    public string? FilePath { get; }

    /// <summary>Every problem that the options make an error, grouped by kind, paths in order within a kind.</summary>
    public IReadOnlyList<LoadProblem> Problems { get; }

    /// <summary>The prefix hint (see <see cref="LoadReport.Hint"/>), or null.</summary>
    public string? Hint { get; }

    private static string Describe(string? file, IReadOnlyList<LoadProblem> problems, string? hint)
    {
        var what = file is null ? "the checkpoint state" : $"'{file}'";
        var text = new StringBuilder($"Error(s) in loading {what} into the template ({LoadText.Count(problems.Count, "problem", "problems")}):");
        LoadText.AppendGroups(text, problems, hint);
        return text.ToString();
    }
}

/// <summary>The grouped text shared by <see cref="LoadReport"/> and <see cref="LoadMismatchException"/>.</summary>
internal static class LoadText
{
    public static string Heading(LoadProblemKind kind) => kind switch
    {
        LoadProblemKind.Missing => "Missing paths (in the template, not in the checkpoint)",
        LoadProblemKind.Unexpected => "Unexpected paths (in the checkpoint, not in the template)",
        LoadProblemKind.ShapeMismatch => "Shape mismatches",
        LoadProblemKind.DtypeMismatch => "Dtype mismatches",
        _ => "Variable-type mismatches",
    };

    public static string Count(int n, string one, string many) => $"{n} {(n == 1 ? one : many)}";

    public static void AppendGroups(StringBuilder text, IReadOnlyList<LoadProblem> problems, string? hint)
    {
        foreach (var group in problems.GroupBy(p => p.Kind))
        {
            text.Append('\n').Append("  ").Append(Heading(group.Key)).Append(": ").Append(group.Count());
            foreach (var problem in group)
                text.Append('\n').Append("    ").Append(problem);
        }

        if (hint is not null)
            text.Append('\n').Append("  Hint: ").Append(hint);
    }
}
