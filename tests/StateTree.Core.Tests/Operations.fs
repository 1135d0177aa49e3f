/// Every operation of the core compared with the reference model on generated inputs.
module StateTree.Core.Tests.Operations

open System
open System.Collections.Generic
open Xunit
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open StateTree
open StateTree.FSharp
open StateTree.Core.Tests.ReferenceModel

let private messages (errors: StateError list) =
    errors |> List.map (fun e -> e.Message) |> List.sort

let private expectErrors (what: string) (expected: StateError list) (actual: StateError list) =
    expectEqual what (messages expected) (messages actual)

/// A nested value as a dictionary, so that State.ofSeq must turn it into a sub-state.
let rec private asDictionary (s: State) : obj =
    let d = Dictionary<PathKey, obj | null>()

    for (k, c) in State.toSeq s do
        let value: obj | null =
            match c with
            | Child.Sub sub -> asDictionary sub
            | Child.Leaf v -> v

        d.[k] <- value

    d :> obj

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module Building =
    [<Property>]
    let ``ofSeq reads nested dictionaries as sub-states and a repeated key keeps the later value`` (s: State) =
        let entries: (PathKey * (obj | null)) list =
            [ for (k, c) in State.toSeq s ->
                  match c with
                  | Child.Sub sub -> k, asDictionary sub
                  | Child.Leaf v -> k, v ]

        let expected = ofState s
        expectModel "ofSeq of the entries" expected (State.ofSeq entries)
        expectModel "ofList of the entries" expected (State.ofList entries)

        match entries with
        | (k, _) :: _ ->
            let repeated = State.ofSeq (entries @ [ k, box 42 ])

            match set [ rkey k ] (box 42) expected with
            | Ok m -> expectModel "ofSeq with a repeated key" m repeated
            | Error e -> failwith e
        | [] -> expectTrue "an empty literal is State.empty" (obj.ReferenceEquals(State.ofSeq [], State.empty))

    [<Property>]
    let ``count, leafCount, toSeq, tryFind and containsKey read the direct children`` (s: State) =
        let m = ofState s
        let keys = childKeys m [] |> List.ofSeq
        expectEqual "count" (count m) (State.count s)
        expectEqual "Count" (count m) s.Count
        expectEqual "leafCount" (leafCount m) (State.leafCount s)
        expectEqual "LeafCount" (leafCount m) s.LeafCount

        let seen = State.toSeq s |> Seq.map (fst >> rkey) |> List.ofSeq
        expectEqual "toSeq keys in key order" keys seen

        for k in keys do
            expectTrue $"containsKey {keyLiteral k}" (State.containsKey (pkey k) s)

            match State.tryFind (pkey k) s, kindAt m [ k ] with
            | Some(Child.Leaf v), KLeaf w ->
                expectTrue $"tryFind {keyLiteral k} gives the leaf" (obj.ReferenceEquals(v, w))
            | Some(Child.Sub sub), KSub -> expectModel $"tryFind {keyLiteral k}" (below m [ k ]) sub
            | other, kind -> failwith $"tryFind {keyLiteral k}: %A{other}, expected {kind}"

        for k in [ I 999; S "absent"; I -7 ] do
            if not (keys |> List.contains k) then
                expectEqual $"tryFind {keyLiteral k} (absent)" None (State.tryFind (pkey k) s)
                expectTrue $"containsKey {keyLiteral k} (absent)" (not (State.containsKey (pkey k) s))

    [<Property>]
    let ``tryFindPath finds leaves, sub-states and the root`` (c: PathCase) =
        let m = ofState c.Target

        match State.tryFindPath (toKeyPath c.Path) c.Target, kindAt m c.Path with
        | Some(Child.Leaf v), KLeaf w -> expectTrue "the same leaf" (obj.ReferenceEquals(v, w))
        | Some(Child.Sub sub), KSub -> expectModel "the sub-state" (below m c.Path) sub
        | None, KAbsent -> ()
        | other, kind -> failwith $"tryFindPath {tupleText c.Path}: %A{other}, expected {kind}"

    [<Property>]
    let ``set replaces, grafts, creates parents and refuses paths through a leaf`` (c: PathCase) =
        let path = toKeyPath c.Path

        match set c.Path c.Value (ofState c.Target) with
        | Ok expected ->
            let result = State.set path c.Value c.Target
            expectModel $"set {tupleText c.Path}" expected result

            // Persistent update: the root children off the path are the input's instances. The
            // sub-states of a packed node are views made on request (two lookups give two objects):
            // there the leaves are the input's instances.
            let isView k =
                match State.tryFind k c.Target, State.tryFind k c.Target with
                | Some(Child.Sub x), Some(Child.Sub y) -> not (obj.ReferenceEquals(x, y))
                | _ -> false

            for (k, child) in State.toSeq c.Target do
                if rkey k <> List.head c.Path then
                    match child, State.tryFind k result with
                    | Child.Sub a, Some(Child.Sub b) when isView k ->
                        expectEqual $"the untouched sub-state {k}" a b

                        for (struct (_, x), struct (_, y)) in Array.zip (State.flatten a) (State.flatten b) do
                            expectTrue
                                $"a leaf of the untouched sub-state {k} is the input's instance"
                                (obj.ReferenceEquals(x, y))
                    | Child.Sub a, Some(Child.Sub b) -> expectSame $"the untouched sub-state {k}" a b
                    | _ -> ()
        | Error _ ->
            let thrown =
                try
                    State.set path c.Value c.Target |> ignore
                    None
                with :? ArgumentException as e ->
                    Some e

            expectTrue $"set {tupleText c.Path} throws ArgumentException" thrown.IsSome

    [<Property>]
    let ``remove drops the entry, keeps emptied parents and returns the input for an absent path`` (c: PathCase) =
        let result = State.remove (toKeyPath c.Path) c.Target

        match remove c.Path (ofState c.Target) with
        | None -> expectSame $"remove of the absent {tupleText c.Path}" c.Target result
        | Some expected -> expectModel $"remove {tupleText c.Path}" expected result

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module FlatView =
    [<Property>]
    let ``flatten lists every leaf in path order`` (s: State) =
        let expected = ofState s |> fun m -> m.Leaves |> Map.toList

        let actual =
            State.flatten s
            |> Array.map (fun struct (p, v) -> ofKeyPath p, v)
            |> List.ofArray

        expectEqual "paths" (List.map fst expected) (List.map fst actual)

        for ((p, x), (_, y)) in List.zip expected actual do
            expectTrue $"the leaf at {tupleText p} itself" (obj.ReferenceEquals(x, y))

    /// State.ofFlat of input (the pairs as the core gets them) agrees with the model of pairs.
    let private expectOfFlat (pairs: (RPath * (obj | null)) list) (input: seq<struct (KeyPath * (obj | null))>) =
        match ofFlat pairs, State.ofFlat input with
        | Built expected, Ok s -> expectModel "ofFlat" expected s
        | Refused(emptyPath, bad), Error errors ->
            let empties =
                errors
                |> List.filter (fun e ->
                    match e with
                    | StateError.EmptyPath -> true
                    | _ -> false)

            expectEqual "an error for the empty path" emptyPath (not empties.IsEmpty)

            let clashes =
                errors
                |> List.choose (fun e ->
                    match e with
                    | StateError.LeafIsPrefix(leaf, other) -> Some(ofKeyPath leaf, ofKeyPath other)
                    | _ -> None)

            expectEqual "the paths below a leaf" bad (clashes |> List.map snd |> Set.ofList)

            for (leaf, other) in clashes do
                expectTrue $"{tupleText leaf} is a leaf prefix of {tupleText other}" (isProperPrefix leaf other)
        | Built expected, Error errors -> failwith $"ofFlat refused %A{messages errors}; expected {expected}"
        | Refused(e, bad), Ok s -> failwith $"ofFlat built {s}; expected a refusal (empty path: {e}, bad: %A{bad})"

    let private checkOfFlat (pairs: (RPath * (obj | null)) list) =
        let structs = [ for (p, v) in pairs -> struct (toKeyPath p, v) ]
        // Sorted (stably, so the later of two equal paths stays later), an array takes the core's
        // path for Flatten's output, which must still notice grafted states among the values.
        let sorted =
            structs
            |> List.sortWith (fun (struct (p, _)) (struct (q, _)) -> p.CompareTo q)
            |> Array.ofList

        // The arrays themselves, not Seq.ofArray wrappers: the core looks for an array.
        expectOfFlat pairs (Seq.ofList structs)
        expectOfFlat pairs (Array.ofList structs)
        // Sorting moves a grafted state before the pairs below its path, which then come later and
        // win: the model follows the sorted order too.
        expectOfFlat [ for struct (p, v) in sorted -> ofKeyPath p, v ] sorted

    [<Property>]
    let ``ofFlat builds the nested state, the later pair winning, and reports bad paths`` (FlatPairs pairs) =
        checkOfFlat pairs

    [<Property>]
    let ``ofFlat does the same in a node of many children`` (WideFlatPairs pairs) = checkOfFlat pairs

    // The builder takes a node whole when its pairs repeat its previous sibling's structure; a near
    // miss must build what the pairs say, or report the same errors, all the same.
    [<Property>]
    let ``ofFlat does the same where siblings repeat one structure`` (RepeatedFlatPairs pairs) =
        expectOfFlat [ for struct (p, v) in pairs -> ofKeyPath p, v ] pairs

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module Filtering =
    [<Property>]
    let ``Filter.matches agrees with the reference matcher`` (c: MatchCase) =
        let m = ofState c.Subject

        for f in c.Tests do
            for KeyValue(p, v) in m.Leaves do
                expectEqual $"{f} at {tupleText p} on {showLeaf v}" (matches f p v) (Filter.matches f (toKeyPath p) v)

            // Paths the state does not have too.
            for p in [ [ S "zz" ]; [ I 0 ]; [ I 0; S "kernel" ]; [ S "nl\n" ] ] do
                expectEqual $"{f} at {tupleText p}" (matches f p null) (Filter.matches f (toKeyPath p) null)

    [<Property>]
    let ``filter keeps the matching leaves and prunes the rest`` (c: FilterCase) =
        let m = ofState c.State

        for f in c.Filters do
            let result = State.filter f c.State
            let expected = filter f m
            expectModel $"filter {f}" expected result

            if m.Empties.IsEmpty && leafCount expected = leafCount m then
                expectSame $"filter {f} that keeps every leaf" c.State result

    [<Property>]
    let ``filterMany sends each leaf to the first filter that matches`` (c: FilterCase) =
        match partition c.Filters (ofState c.State), State.filterMany c.Filters c.State with
        | Misplaced indices, Error errors ->
            expectEqual "misplaced Everything" [ for i in indices -> StateError.EverythingNotLast i ] errors
        | Groups(expected, _), Ok groups ->
            expectEqual "one group per filter" expected.Length groups.Length

            List.iteri2 (fun i e g -> expectModel $"group {i} ({c.Filters.[i]})" e g) expected groups
        | expected, actual -> failwith $"filterMany: expected %A{expected}, got %A{actual}"

    [<Property>]
    let ``split is filterMany that refuses a remainder`` (c: FilterCase) =
        match partition c.Filters (ofState c.State), State.split c.Filters c.State with
        | Misplaced indices, Error errors ->
            expectEqual "misplaced Everything" [ for i in indices -> StateError.EverythingNotLast i ] errors
        | Groups(_, rest), Error [ StateError.NonExhaustiveSplit remainder ] when leafCount rest > 0 ->
            expectModel "the remainder" rest remainder
        | Groups(expected, rest), Ok groups when leafCount rest = 0 ->
            List.iteri2 (fun i e g -> expectModel $"group {i} ({c.Filters.[i]})" e g) expected groups
        | expected, actual -> failwith $"split: expected %A{expected}, got %A{actual}"

    [<Property>]
    let ``where and select are filter and map over leaves`` (s: State) =
        let m = ofState s
        let isVariable (leaf: obj | null) = leaf :? Variable

        expectModel
            "where"
            { empty with
                Leaves = m.Leaves |> Map.filter (fun _ v -> isVariable v) }
            (State.where isVariable s)

        let wrap (leaf: obj | null) : obj | null = box [| leaf |]
        expectModel "select" (map (fun _ v -> wrap v) m) (State.select wrap s)

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module Combining =
    [<Property>]
    let ``merge is the union by path, later inputs winning`` (Related states) =
        let result = State.merge states

        match merge (List.map ofState states) with
        | Input i -> expectSame $"merge with the single non-empty input {i}" states.[i] result
        | Merged expected -> expectModel "merge" expected result

    [<Property>]
    let ``mergeWith Error lists each conflicting path once, in path order`` (Related states) =
        let models = states |> List.map ofState
        let inputs = models |> List.filter (fun m -> count m > 0)

        match conflicts inputs, State.mergeWith MergeConflict.Error states with
        | [], Ok merged -> expectEqual "no conflict: the merge" (State.merge states) merged
        | expected, Error errors ->
            let actual =
                errors
                |> List.map (fun e ->
                    match e with
                    | StateError.MergeConflictAt p -> ofKeyPath p
                    | other -> failwith $"unexpected error {other.Message}")

            expectEqual "conflicting paths" expected actual
        | expected, Ok merged -> failwith $"expected conflicts at %A{expected}, got {merged}"

        expectEqual
            "mergeWith LastWins is merge"
            (Ok(State.merge states))
            (State.mergeWith MergeConflict.LastWins states)

    [<Property>]
    let ``diff keeps the leaves whose path is no leaf path of the other`` (Related states) =
        match states with
        | s :: rest ->
            for other in State.empty :: rest do
                let result = State.diff other s

                match diff (ofState other) (ofState s) with
                | None -> expectSame "diff with a state without children" s result
                | Some expected -> expectModel $"diff with {other}" expected result
        | [] -> expectSame "diff of empties" State.empty (State.diff State.empty State.empty)

    [<Property>]
    let ``map applies the function to every leaf with its path`` (s: State) =
        let f (p: KeyPath) (leaf: obj | null) : obj | null = box [| box (p.ToString()); leaf |]
        let g (p: RPath) (leaf: obj | null) : obj | null = box [| box (pathText p); leaf |]
        expectModel "map" (map g (ofState s)) (State.map f s)

    [<Property>]
    let ``map and zip graft the sub-states the function returns`` (s: State) =
        expectGrafted "map" s (State.map (fun _ v -> graftG v) s)

        match State.zip (fun x _ -> graftG x) s s with
        | Ok r -> expectGrafted "zip" s r
        | Error errors -> failwith $"%A{errors |> List.map (fun e -> e.Message)}"

    [<Property>]
    let ``zip pairs the leaves of states with the same paths and lists the others`` (Related states) =
        let pair (x: obj | null) (y: obj | null) : obj | null = box [| x; y |]

        match states with
        | a :: rest ->
            let ma = ofState a
            // A state with the same paths and other values, then the related states.
            let same = toState (map (fun _ v -> box [| v |]) ma)

            for b in same :: rest do
                match zip pair ma (ofState b), State.zip pair a b with
                | Ok expected, Ok result -> expectModel "zip" expected result
                | Error expected, Error errors ->
                    let actual =
                        errors
                        |> List.map (fun e ->
                            match e with
                            | StateError.ZipMismatch(p, inFirst) -> ofKeyPath p, inFirst
                            | other -> failwith $"unexpected error {other.Message}")
                        |> List.sort

                    expectEqual "the paths in only one state" expected actual
                | expected, actual -> failwith $"zip: expected %A{expected}, got %A{actual}"
        | [] -> ()

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module PureDicts =
    /// Every node of a core pure dict must be a Dictionary<obj, obj> with int or string keys.
    let rec private checkNodes (d: obj | null) =
        match d with
        | :? Dictionary<obj, obj | null> as node ->
            for kv in node do
                expectTrue $"key {kv.Key} is an int or a string" (kv.Key :? int || kv.Key :? string)
                checkNodes kv.Value
        | :? System.Collections.IDictionary as other -> failwith $"a node of type {other.GetType()}"
        | _ -> ()

    [<Property>]
    let ``toPureDict nests the leaf values in path order`` (s: State) =
        let m = ofState s
        let d = State.toPureDict s
        checkNodes d
        let expected = toPure valueOf m
        let actual = readPure d
        expectTrue $"toPureDict: expected {expected}, got {actual}" (pdEquals expected actual)

        let wrap (leaf: obj | null) : obj | null = box [| leaf |]
        let withExtract = readPure (State.toPureDictWith wrap s)
        expectTrue "toPureDictWith applies extract to every leaf" (pdEquals (toPure wrap m) withExtract)

    let private custom (current: obj | null) (value: obj | null) : obj | null = box [| current; value |]

    let private coreReplace (c: ReplaceCase) (input: obj) =
        if c.Custom || c.Strict then
            State.replaceByPureDictWith
                { Replace = (if c.Custom then Some custom else None)
                  Strict = c.Strict }
                input
                c.Original
        else
            State.replaceByPureDict input c.Original

    let private checkReplace (what: string) (c: ReplaceCase) (d: PD) =
        let input = nonNull (materialize c.Flavor d)
        let replaceFn = if c.Custom then custom else defaultReplace

        match replace replaceFn c.Strict input (ofState c.Original), coreReplace c input with
        | Ok expected, Ok s -> expectModel what expected s
        | Error expected, Error errors -> expectErrors $"{what} errors" expected errors
        | Ok expected, Error errors -> failwith $"{what}: expected {expected}, got the errors %A{messages errors}"
        | Error expected, Ok s -> failwith $"{what}: expected the errors %A{messages expected}, got {s}"

    /// Without empty sub-dicts; the property below covers them.
    [<Property>]
    let ``replaceByPureDict resolves keys level by level and reports every problem`` (c: ReplaceCase) =
        checkReplace "replaceByPureDict" c (prunePure c.Pure)

    /// SPEC §4.6: "The pure dict is taken leaf by leaf ... and empty sub-dicts are ignored": adding
    /// empty sub-dicts changes nothing, not the duplicate-key check, not strict mode.
    [<Property>]
    let ``replaceByPureDict ignores empty sub-dicts`` (c: ReplaceCase) =
        checkReplace "replaceByPureDict with empty sub-dicts" c c.Pure

    /// The key order ToPureDict lists, with leaves left out (drop.[i] for the i-th leaf, cyclically),
    /// so that a node's dict may stop short of its last keys: replaceByPureDict's in-order path,
    /// strict and not, which the shuffled cases above take only now and then.
    [<Property>]
    let ``replaceByPureDict on pure dicts in key order with leaves left out``
        (s: State)
        (drop: bool list)
        (custom: bool)
        (strict: bool)
        =
        let seen = ref -1

        let rec leave (d: PD) =
            match d with
            | PLeaf _ -> d
            | PNode kids ->
                PNode
                    [ for (k, v) in kids do
                          match v with
                          | PLeaf _ ->
                              seen.Value <- seen.Value + 1

                              if List.isEmpty drop || not drop.[seen.Value % drop.Length] then
                                  yield k, v
                          | node -> yield k, leave node ]

        let d = leave (toPure valueOf (ofState s))

        checkReplace
            "replaceByPureDict in key order"
            { Original = s
              Pure = d
              Flavor = ObjectKeys
              Custom = custom
              Strict = strict }
            d

    let private checkRestore (what: string) (expected: Result<PD, StateError list>) actual =
        match expected, actual with
        | Ok e, Ok(d: Dictionary<obj, obj | null>) ->
            checkNodes d
            let got = readPure d
            expectTrue $"{what}: expected {e}, got {got}" (pdEquals e got)
        | Error e, Error errors -> expectErrors $"{what} errors" e errors
        | Ok e, Error errors -> failwith $"{what}: expected {e}, got the errors %A{messages errors}"
        | Error e, Ok d -> failwith $"{what}: expected the errors %A{messages e}, got {readPure d}"

    [<Property>]
    let ``restoreIntPaths turns exactly the canonical integer strings into ints`` (c: RestoreCase) =
        let input = nonNull (materialize c.Shape c.Input)
        checkRestore "restoreIntPaths" (restore None input) (State.restoreIntPaths input)

    [<Property>]
    let ``restoreIntPathsLike converts exactly where the template has the int key`` (c: RestoreCase) =
        let input = nonNull (materialize c.Shape c.Input)

        checkRestore
            "restoreIntPathsLike"
            (restore (Some(ofState c.Template)) input)
            (State.restoreIntPathsLike c.Template input)

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module FilterValues =
    /// The same filter built again from fresh parts (Where filters are kept: they compare by identity).
    let rec private rebuild (f: Filter) : Filter =
        match f with
        | OfType t -> Filter.ofTypeOf t
        | WithTag t -> Filter.withTag (String(t.ToCharArray()))
        | PathContains(k, exact) -> PathContains(pkey (rkey k), exact)
        | PathIn paths -> Filter.pathIn [ for p in paths -> KeyPath.OfSeq(p.ToArray()) ]
        | PathMatches(pattern, _) -> Filter.pathMatches (String(pattern.ToCharArray()))
        | PathStartsWith p -> Filter.pathStartsWith (KeyPath.OfSeq(p.ToArray()))
        | Any fs -> Filter.any (List.map rebuild fs)
        | All fs -> Filter.all (List.map rebuild fs)
        | Not g -> Filter.not (rebuild g)
        | Everything
        | Nothing
        | Where _ -> f

    let rec private hasWhere (f: Filter) =
        match f with
        | Where _ -> true
        | Any fs
        | All fs -> List.exists hasWhere fs
        | Not g -> hasWhere g
        | _ -> false

    [<Property>]
    let ``filters have value equality and a hash that agrees`` (f: Filter) (g: Filter) =
        let f2 = rebuild f
        expectTrue $"{f} equals its rebuild" (f.Equals f2 && (f :> IEquatable<Filter>).Equals f2)
        expectEqual $"{f} hashes like its rebuild" (f.GetHashCode()) (f2.GetHashCode())
        expectTrue $"Not {f} differs from {f}" (not (f.Equals(Filter.not f)))
        expectTrue $"Any [{f}] differs from All [{f}]" (not ((Filter.any [ f ]).Equals(Filter.all [ f ])))

        if f.Equals g then
            expectEqual "equal filters hash alike" (f.GetHashCode()) (g.GetHashCode())

        // Without Where, two filters are equal exactly when they print alike.
        if not (hasWhere f || hasWhere g) then
            expectEqual $"{f} = {g}" (filterText f = filterText g) (f.Equals g)

    [<Fact>]
    let ``the SPEC's filter equality examples`` () =
        Assert.Equal(Filter.ofType<Param>, Filter.ofType<Param>)
        Assert.NotEqual(Filter.any [ Filter.ofType<Param> ], Filter.all [ Filter.ofType<Param> ])
        Assert.NotEqual(Filter.pathContains (PathKey.FromName "a"), Filter.pathContainsText (PathKey.FromName "a"))
        let p (_: KeyPath) (_: obj | null) = true
        let w = Filter.where p
        Assert.Equal(w, w)
        Assert.NotEqual(w, Filter.where p)

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module Printing =
    [<Property>]
    let ``ToString prints Flax's layout in path order`` (s: State) =
        expectEqual "ToString" (print (ofState s)) (s.ToString())

    [<Property>]
    let ``filters print in Flax's style`` (f: Filter) =
        let expected = filterText f

        if not (expected.Contains "Where(") then
            expectEqual "Filter.ToString" expected (f.ToString())

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module Variables =
    [<Property>]
    let ``WithValue and WithMetadata keep the runtime type, and Tag reads the tag`` (s: State) =
        for KeyValue(_, leaf) in (ofState s).Leaves do
            match leaf with
            | :? Variable as v ->
                let w = v.WithValue(box "new")
                expectEqual "WithValue keeps the type" (v.GetType()) (w.GetType())
                expectTrue "WithValue sets the value" (obj.Equals(w.Value, "new"))
                expectTrue "WithValue keeps the metadata" (leafEquals (v.WithValue v.Value) v)
                let x = v.WithMetadata("extra", box 5)
                expectEqual "WithMetadata keeps the type" (v.GetType()) (x.GetType())
                expectTrue "WithMetadata keeps the value" (obj.ReferenceEquals(v.Value, x.Value))
                expectTrue "WithMetadata adds the entry" (leafEquals x.Metadata.["extra"] (box 5))
                expectTrue "WithMetadata leaves the original" (not (v.Metadata.ContainsKey "extra"))
                expectEqual "Tag" (tagOf v) (Option.ofObj v.Tag)
            | _ -> ()

    [<Property>]
    let ``leaf equality and hashing follow the SPEC's rules`` (s: State) =
        let leaves = (ofState s).Leaves |> Map.toList |> List.map snd |> List.truncate 12
        let copies = leaves |> List.map Gens.copyLeaf

        for a in leaves @ copies do
            for b in leaves @ copies do
                match a, b with
                | (:? Variable as x), (:? Variable as y) ->
                    let same = leafEquals x y
                    expectEqual $"{showLeaf x} = {showLeaf y}" same (x.Equals y)

                    if same then
                        expectEqual $"hash of {showLeaf x}" (x.GetHashCode()) (y.GetHashCode())
                | _ -> ()

[<Properties(Arbitrary = [| typeof<Arbs> |])>]
module KeysAndPaths =
    [<Property>]
    let ``PathKey order is ints first, ints numerically, names by ordinal`` (a: PathKey) (b: PathKey) (c: PathKey) =
        let ra, rb, rc = rkey a, rkey b, rkey c
        expectEqual $"compare {a} {b}" (compareKey ra rb) (sign (a.CompareTo b))
        expectEqual $"compare {b} {a} (antisymmetric)" (-(sign (a.CompareTo b))) (sign (b.CompareTo a))
        expectEqual "the structural order of the reference keys agrees" (compareKey ra rb) (sign (compare ra rb))
        expectEqual $"{a} = {b} (type-strict)" (ra = rb) (a.Equals b)
        expectEqual "== agrees with Equals" (a.Equals b) (PathKey.op_Equality (a, b))
        expectEqual "compare is 0 exactly for equal keys" (a.Equals b) (a.CompareTo b = 0)

        if a.Equals b then
            expectEqual "equal keys hash alike" (a.GetHashCode()) (b.GetHashCode())

        expectEqual $"compare {a} {c}" (compareKey ra rc) (sign (a.CompareTo c))

        if a.CompareTo b <= 0 && b.CompareTo c <= 0 then
            expectTrue "transitive" (a.CompareTo c <= 0)

        expectEqual "ToString" (keyText ra) (a.ToString())
        expectEqual "ToLiteral" (keyLiteral ra) (a.ToLiteral())

    [<Property>]
    let ``KeyPath compares lexicographically, a prefix first, and prints both forms`` (p: KeyPath) (q: KeyPath) =
        let rp, rq = ofKeyPath p, ofKeyPath q
        expectEqual "compare" (comparePath rp rq) (sign (p.CompareTo q))
        expectEqual "antisymmetric" (-(sign (p.CompareTo q))) (sign (q.CompareTo p))
        expectEqual "Equals" (rp = rq) (p.Equals q)
        expectEqual "equality on a rebuilt path" true (p.Equals(KeyPath.OfSeq(p.ToArray())))
        expectEqual "hash on a rebuilt path" (p.GetHashCode()) (KeyPath.OfSeq(p.ToArray()).GetHashCode())

        if rp = rq then
            expectEqual "equal paths hash alike" (p.GetHashCode()) (q.GetHashCode())

        expectEqual "StartsWith" (isPrefix rq rp) (p.StartsWith q)
        expectEqual "ToString" (pathText rp) (p.ToString())
        expectEqual "ToTupleString" (tupleText rp) (p.ToTupleString())
        expectEqual "Count" rp.Length p.Count
        expectEqual "items" rp [ for i in 0 .. p.Count - 1 -> rkey p.[i] ]
        expectEqual "enumeration" rp [ for k in (p :> IReadOnlyList<PathKey>) -> rkey k ]

        if p.Count > 0 then
            expectEqual "Last" (List.last rp) (rkey p.Last)
            expectEqual "Parent" (List.take (rp.Length - 1) rp) (ofKeyPath p.Parent)
        else
            expectTrue "the empty path's parent is itself" (p.Parent.Equals p)

        let appended = p.Append(PathKey.FromName "z")
        expectEqual "Append" (rp @ [ S "z" ]) (ofKeyPath appended)
        expectEqual "Append leaves the path" rp (ofKeyPath p)
