namespace StateTree;

/// <summary>
/// One problem that made an operation refuse its input: a <c>Try…</c> form returns one per problem
/// (per unknown path, per conflicting path, per misplaced <see cref="Filter.Everything"/>).
/// </summary>
/// <param name="Message">
/// The message the throwing form would use for this problem, naming the path in Python tuple notation.
/// </param>
/// <param name="At">The path at fault, or null when the problem has no single path (a non-exhaustive split).</param>
public sealed record StateError(string Message, KeyPath? At);
