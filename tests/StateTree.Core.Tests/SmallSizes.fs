/// STYLE: property tests always cover the small sizes 1–12. Each law runs at every one of those
/// sizes on its own (start size = end size), and a fixed family of small shapes is checked exhaustively.
module StateTree.Core.Tests.SmallSizes

open Xunit
open FsCheck
open FsCheck.FSharp
open StateTree
open StateTree.FSharp
open StateTree.Core.Tests.ReferenceModel

let private config (size: int) =
    Config.QuickThrowOnFailure
        .WithArbitrary([ typeof<Arbs> ])
        .WithStartSize(size)
        .WithEndSize(size)
        .WithMaxTest(20)
        .WithQuietOnSuccess(true)

let sizes: obj array seq = seq { for n in 1..12 -> [| n :> obj |] }

[<Theory>]
[<MemberData(nameof sizes)>]
let ``the split, flat and pure-dict laws hold at this size`` (size: int) =
    let c = config size
    Check.One(c, Laws.splitMergeInverse)
    Check.One(c, Laws.firstMatchWins)
    Check.One(c, Laws.groupWithEveryLeafIsTheInput)
    Check.One(c, Laws.flattenOfFlatInverse)
    Check.One(c, Laws.pureDictRoundTrip)
    Check.One(c, Laws.stringKeyedRoundTrip)
    Check.One(c, Laws.restoreAfterStringify)

[<Theory>]
[<MemberData(nameof sizes)>]
let ``the filter, merge, equality and identity laws hold at this size`` (size: int) =
    let c = config size
    Check.One(c, Laws.filterAlgebra)
    Check.One(c, Laws.filterComplement)
    Check.One(c, Laws.mergeLaws)
    Check.One(c, Laws.mergeAssociative)
    Check.One(c, Laws.equalityAndHash)
    Check.One(c, Laws.noOpsReturnTheInput)

[<Theory>]
[<MemberData(nameof sizes)>]
let ``the operations agree with the reference model at this size`` (size: int) =
    let c = config size
    Check.One(c, Operations.Combining.``merge is the union by path, later inputs winning``)
    Check.One(c, Operations.Filtering.``split is filterMany that refuses a remainder``)
    Check.One(c, Operations.FlatView.``ofFlat builds the nested state, the later pair winning, and reports bad paths``)
    Check.One(c, Operations.Building.``set replaces, grafts, creates parents and refuses paths through a leaf``)

    Check.One(
        c,
        Operations.Building.``remove drops the entry, keeps emptied parents and returns the input for an absent path``
    )

    Check.One(c, Operations.PureDicts.``replaceByPureDict resolves keys level by level and reports every problem``)
    Check.One(c, Operations.PureDicts.``restoreIntPaths turns exactly the canonical integer strings into ints``)
    Check.One(c, Operations.Printing.``ToString prints Flax's layout in path order``)

/// Small shapes with n leaves, every one: a flat node of ints, of names, of both; a chain of depth n;
/// a comb (each level one leaf and one sub-state); and the same with an empty sub-state added.
let private shapes (n: int) : State list =
    let leaf i =
        box (
            if i % 2 = 0 then
                Param i :> Variable
            else
                BatchStat(float i) :> Variable
        )

    let flatInts = State.ofSeq [ for i in 0 .. n - 1 -> PathKey.FromIndex i, leaf i ]

    let flatNames =
        State.ofSeq [ for i in 0 .. n - 1 -> PathKey.FromName(string (char (int 'a' + i))), leaf i ]

    let mixed =
        State.ofSeq
            [ for i in 0 .. n - 1 ->
                  (if i % 2 = 0 then
                       PathKey.FromIndex i
                   else
                       PathKey.FromName(string i)),
                  leaf i ]

    let chain =
        let path = KeyPath.OfSeq [ for _ in 0 .. n - 2 -> PathKey.FromName "layer" ]
        let keys = [ for i in 0 .. n - 1 -> path.Append(PathKey.FromIndex i) ]

        keys
        |> List.indexed
        |> List.fold (fun s (i, p) -> State.set p (leaf i) s) State.empty

    let comb =
        [ 0 .. n - 1 ]
        |> List.fold
            (fun (s, prefix: KeyPath) i ->
                State.set (prefix.Append(PathKey.FromIndex 0)) (leaf i) s, prefix.Append(PathKey.FromName "next"))
            (State.empty, KeyPath.Empty)
        |> fst

    let withEmpty =
        [ flatInts; flatNames; mixed; chain; comb ]
        |> List.map (State.set (KeyPath.Of [| PathKey.FromName "empty" |]) (box State.empty))

    [ flatInts; flatNames; mixed; chain; comb ] @ withEmpty

let private filterLists =
    [ [ Everything ]
      [ Filter.ofType<Param>; Everything ]
      [ Filter.ofType<BatchStat>; Filter.ofType<Param>; Everything ]
      [ Filter.pathContains (PathKey.FromIndex 0); Everything ]
      [ Filter.pathStartsWith (KeyPath.Of [| PathKey.FromName "layer" |])
        Everything ]
      [ Filter.not (Filter.ofType<Param>); Nothing; Everything; Everything ] ]

[<Theory>]
[<MemberData(nameof sizes)>]
let ``every small shape of this size obeys the laws`` (size: int) =
    for s in shapes size do
        let m = ofState s
        let flatState = State.filter Everything s
        expectEqual "leaf count" size (State.leafCount s)

        expectModel
            "ofFlat (flatten s)"
            (flat m)
            (match State.ofFlat (State.flatten s) with
             | Ok r -> r
             | Error e -> failwith $"%A{e}")

        expectModel
            "the pure-dict round trip"
            (flat m)
            (match State.replaceByPureDict (State.toPureDict s) s with
             | Ok r -> r
             | Error e -> failwith $"%A{e}")

        expectEqual "ToString" (print m) (s.ToString())

        for fs in filterLists do
            match State.split fs flatState with
            | Ok groups ->
                expectEqual $"merge (split {fs})" flatState (State.merge groups)

                match partition fs m with
                | Groups(expected, _) -> List.iter2 (expectModel $"split {fs}") expected groups
                | Misplaced _ -> failwith "unexpected"
            | Error e -> failwith $"split {fs}: %A{e}"

            match State.split fs s with
            | Ok groups -> expectModel $"merge (split {fs}) drops the empty sub-state" (flat m) (State.merge groups)
            | Error e -> failwith $"split {fs}: %A{e}"
