namespace StateTree.Checkpoint;

/// <summary>What a load into a template does about one kind of problem (see <see cref="LoadOptions"/>).</summary>
public enum LoadPolicy
{
    /// <summary>The load fails: it throws <see cref="LoadMismatchException"/>, whose message lists every problem of every kind set to <see cref="Error"/>.</summary>
    Error = 0,

    /// <summary>
    /// The problem is tolerated silently: the template's leaf stays where nothing fitting was loaded, and a
    /// checkpoint entry that fits nowhere is dropped. The <see cref="LoadReport"/> does not list it.
    /// </summary>
    Skip = 1,

    /// <summary>Tolerated as with <see cref="Skip"/>, and listed in the <see cref="LoadReport"/>.</summary>
    Report = 2,
}

/// <summary>
/// How <see cref="CheckpointLoader.LoadInto(State, string, LoadOptions?)"/> and
/// <see cref="JsonCheckpoint.LoadInto(State, string, LoadOptions?)"/> treat each kind of difference between the
/// template and the checkpoint: PyTorch's <c>load_state_dict(strict=…)</c>, one policy per kind. A new
/// instance is strict (every kind an <see cref="LoadPolicy.Error"/>), like PyTorch's default.
/// </summary>
/// <remarks>
/// Whatever the policies, a leaf is loaded only when it has none of these problems; a leaf with a tolerated
/// problem keeps the template's value. PyTorch's <c>strict=False</c> is <see cref="NonStrict"/>.
/// </remarks>
public sealed class LoadOptions
{
    /// <summary>Every kind is an error (the default, PyTorch's <c>strict=True</c>).</summary>
    public static LoadOptions Strict { get; } = new();

    /// <summary>
    /// PyTorch's <c>strict=False</c>: missing and unexpected paths are reported, not errors; shape, dtype and
    /// Variable-type mismatches still fail the load (PyTorch fails on size mismatches even then).
    /// </summary>
    public static LoadOptions NonStrict { get; } = new() { Missing = LoadPolicy.Report, Unexpected = LoadPolicy.Report };

    /// <summary>Nothing fails: every problem is reported and its leaf keeps the template's value ("load what fits").</summary>
    public static LoadOptions Lenient { get; } = new()
    {
        Missing = LoadPolicy.Report,
        Unexpected = LoadPolicy.Report,
        ShapeMismatch = LoadPolicy.Report,
        DtypeMismatch = LoadPolicy.Report,
        VariableTypeMismatch = LoadPolicy.Report,
    };

    /// <summary>A leaf path of the template that the checkpoint does not have; under Skip/Report the template's leaf stays.</summary>
    public LoadPolicy Missing { get; init; }

    /// <summary>A leaf path of the checkpoint that the template does not have; under Skip/Report it is dropped.</summary>
    public LoadPolicy Unexpected { get; init; }

    /// <summary>Both sides are tensors, arrays or scalars, with different shapes.</summary>
    public LoadPolicy ShapeMismatch { get; init; }

    /// <summary>
    /// Different element types (<c>F32</c> against <c>F16</c>), or different .NET types for leaves that are not
    /// tensors, or a JSON value that cannot be read as the template's type.
    /// </summary>
    public LoadPolicy DtypeMismatch { get; init; }

    /// <summary>
    /// The checkpoint recorded a <see cref="Variable"/> type (a file saved with structure) that is not the runtime
    /// type of the template's leaf (a <c>BatchStat</c> where the template has a <c>Param</c>, or a variable where it
    /// has a raw value).
    /// </summary>
    public LoadPolicy VariableTypeMismatch { get; init; }

    /// <summary>The policy for one kind of problem.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>Its policy.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a defined kind.</exception>
    public LoadPolicy PolicyFor(LoadProblemKind kind) => kind switch
    {
        LoadProblemKind.Missing => Missing,
        LoadProblemKind.Unexpected => Unexpected,
        LoadProblemKind.ShapeMismatch => ShapeMismatch,
        LoadProblemKind.DtypeMismatch => DtypeMismatch,
        LoadProblemKind.VariableTypeMismatch => VariableTypeMismatch,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a kind of load problem."),
    };

    /// <summary>The policies, for debugging: <c>LoadOptions(Missing=Error, Unexpected=Error, …)</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString() =>
        $"LoadOptions(Missing={Missing}, Unexpected={Unexpected}, ShapeMismatch={ShapeMismatch}, DtypeMismatch={DtypeMismatch}, VariableTypeMismatch={VariableTypeMismatch})";
}
