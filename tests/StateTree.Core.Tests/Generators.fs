namespace StateTree.Core.Tests

open System
open System.Collections.Generic
open System.Text.RegularExpressions
open FsCheck
open FsCheck.FSharp
open StateTree
open StateTree.FSharp
open StateTree.Core.Tests.ReferenceModel

/// A user-defined Param subclass: WithValue and type filters must handle it with no code here.
type MyParam =
    inherit Param
    new(value: obj | null) = { inherit Param(value) }
    new(value: obj | null, metadata: IReadOnlyDictionary<string, obj | null>) = { inherit Param(value, metadata) }

/// A user-defined direct subclass of Variable.
type MyVariable =
    inherit Variable
    new(value: obj | null) = { inherit Variable(value) }
    new(value: obj | null, metadata: IReadOnlyDictionary<string, obj | null>) = { inherit Variable(value, metadata) }

/// A state without empty sub-states (the precondition of the flat laws).
type FlatState = FlatState of State

/// A state without empty sub-states whose string keys are never canonical integers.
type NoIntNames = NoIntNames of State

/// A state without empty sub-states whose leaves survive a JSON round trip.
type JsonState = JsonState of State

/// A state and filters aimed at its paths (Filter.Everything may appear anywhere); no key ends in a newline.
type FilterCase = { State: State; Filters: Filter list }

/// As FilterCase, with keys that end in a newline too.
type MatchCase = { Subject: State; Tests: Filter list }

/// A state without empty sub-states and filters that end in Filter.Everything.
type ExhaustiveCase =
    { Exhaustive: State
      Groups: Filter list }

/// A state, a path aimed at it (a leaf, a sub-state, below a leaf, absent, the root) and a value.
type PathCase =
    { Target: State
      Path: RPath
      Value: obj | null }

/// Related states: variants of one base, so that they share paths, values and shapes.
type Related = Related of State list

/// A state and a pure dict derived from it: kept, dropped, changed, stringified, duplicated, unknown entries.
type ReplaceCase =
    { Original: State
      Pure: PD
      Flavor: Flavor
      Custom: bool
      Strict: bool }

/// A pure dict of string and int keys (canonical and not, colliding, empty sub-dicts) and a template.
type RestoreCase =
    { Template: State
      Input: PD
      Shape: Flavor }

/// (path, value) pairs for ofFlat: shuffled leaves, repeats, grafted states, leaf-and-prefix clashes.
type FlatPairs = FlatPairs of (RPath * (obj | null)) list

/// FlatPairs of a state whose root has 65–200 children (more than the core keeps flat), a quarter
/// of them small sub-trees: repeats and grafts then land in a node the builder writes chunk by chunk.
type WideFlatPairs = WideFlatPairs of (RPath * (obj | null)) list

/// Flattened pairs in path order of a state whose siblings repeat one structure (a model's layers),
/// often with a near miss (a pair dropped, repeated, added as a sibling or below a leaf, or a grafted
/// state added or in place of a leaf), with path objects shared as Flatten shares them or all separate.
type RepeatedFlatPairs = RepeatedFlatPairs of struct (KeyPath * (obj | null)) array

/// Two states that are often equal (rebuilt in another order with copied leaves) and often nearly so.
type EqualityCase = { Left: State; Right: State }

module Gens =
    /// Gen.frequency without the zero-weight choices.
    let weighted (choices: (int * Gen<'T>) list) =
        Gen.frequency (choices |> List.filter (fun (w, _) -> w > 0))

    let names =
        [| "a"
           "b"
           "c"
           "kernel"
           "bias"
           "layers"
           "0"
           "1"
           "17"
           "-3"
           "05"
           "+4"
           " 2 "
           "1.5"
           "-0"
           "2147483648"
           ""
           "a/b"
           "x.y"
           "it's"
           "\"q\""
           "back\\slash"
           "é"
           "日本"
           "A"
           "B"
           "a_"
           "ab"
           "10"
           "2"
           "nl\n" |]

    let isIntName (s: string) = (canonicalInt s).IsSome

    let private shortName =
        gen {
            let! n = Gen.choose (0, 3)
            let! cs = Gen.listOfLength n (Gen.elements [ 'a'; 'b'; '0'; '1'; '-'; '/'; '.'; '\''; 'é' ])
            return String(Array.ofList cs)
        }

    let name (intNames: bool) =
        Gen.frequency [ 8, Gen.elements names; 1, shortName ]
        |> Gen.filter (fun s -> intNames || not (isIntName s))

    let index =
        Gen.frequency
            [ 8, Gen.choose (-3, 12)
              1, Gen.elements [ Int32.MinValue; Int32.MaxValue; 100; 1000; -1000 ] ]

    let key (intNames: bool) =
        Gen.oneof
            [ index |> Gen.map (fun i -> PathKey.FromIndex i)
              name intNames |> Gen.map (fun s -> PathKey.FromName s) ]

    let metadata (entries: (string * (obj | null)) list) : IReadOnlyDictionary<string, obj | null> =
        let d = Dictionary<string, obj | null>()

        for (k, v) in entries do
            d.[k] <- v

        d

    let tags = [| "dropout"; "params"; "rng"; ""; "it's" |]

    let private metadataGen: Gen<IReadOnlyDictionary<string, obj | null> option> =
        Gen.frequency
            [ 4, Gen.constant None
              3, Gen.elements tags |> Gen.map (fun t -> Some(metadata [ "tag", box t ]))
              1,
              Gen.map2
                  (fun t (n: int) -> Some(metadata [ "tag", box t; "axis", box n ]))
                  (Gen.elements tags)
                  (Gen.choose (0, 3))
              1, Gen.constant (Some(metadata [ "sharding", box "data"; "note", null ]))
              // A tag that is not a string: Tag is null and WithTag matches nothing.
              1, Gen.constant (Some(metadata [ "tag", box 3 ])) ]

    /// Every built-in Variable type and the user-defined ones, by constructor.
    let makers: (Type * (obj | null -> IReadOnlyDictionary<string, obj | null> option -> Variable)) array =
        let make
            (plain: obj | null -> Variable)
            (withMeta: obj | null * IReadOnlyDictionary<string, obj | null> -> Variable)
            =
            fun (v: obj | null) (m: IReadOnlyDictionary<string, obj | null> option) ->
                match m with
                | Some m -> withMeta (v, m)
                | None -> plain v

        [| typeof<Variable>, make (fun v -> Variable v) (fun (v, m) -> Variable(v, m))
           typeof<Param>, make (fun v -> Param v) (fun (v, m) -> Param(v, m))
           typeof<BatchStat>, make (fun v -> BatchStat v) (fun (v, m) -> BatchStat(v, m))
           typeof<Cache>, make (fun v -> Cache v) (fun (v, m) -> Cache(v, m))
           typeof<Intermediate>, make (fun v -> Intermediate v) (fun (v, m) -> Intermediate(v, m))
           typeof<Perturbation>, make (fun v -> Perturbation v) (fun (v, m) -> Perturbation(v, m))
           typeof<RngState>, make (fun v -> RngState v) (fun (v, m) -> RngState(v, m))
           typeof<RngKey>, make (fun v -> RngKey v) (fun (v, m) -> RngKey(v, m))
           typeof<RngCount>, make (fun v -> RngCount v) (fun (v, m) -> RngCount(v, m))
           typeof<OptState>, make (fun v -> OptState v) (fun (v, m) -> OptState(v, m))
           typeof<MyParam>, make (fun v -> MyParam v) (fun (v, m) -> MyParam(v, m))
           typeof<MyVariable>, make (fun v -> MyVariable v) (fun (v, m) -> MyVariable(v, m)) |]

    let makerOf (t: Type) =
        makers |> Array.tryFind (fun (x, _) -> x = t) |> Option.map snd

    let private boxed (g: Gen<'T>) : Gen<obj | null> = g |> Gen.map (fun x -> box x)

    /// Raw leaves; json: only values a JSON round trip converts back to the same type and value.
    let raw (json: bool) : Gen<obj | null> =
        let small = Gen.choose (-5, 5)

        let doubles =
            if json then
                [ 0.0; 1.5; -2.25; 1e300; 0.1 ]
            else
                [ 0.0; -0.0; 1.5; -2.25; 1e300; nan; infinity; 0.1 ]

        let floats = Gen.elements [ 0.0f; 1.0f; -0.5f; 3.25f ]

        weighted
            [ 4, boxed small
              2, boxed (Gen.elements doubles)
              2, boxed (Gen.elements names)
              1, boxed (Gen.elements [ true; false ])
              1, boxed (Gen.map int64 small)
              2, boxed (Gen.choose (0, 4) |> Gen.bind (fun n -> Gen.arrayOfLength n floats))
              1,
              boxed (
                  Gen.choose (0, 3)
                  |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.elements doubles))
              )
              (if json then 0 else 1),
              boxed (
                  gen {
                      let! rows = Gen.choose (0, 2)
                      let! cols = Gen.choose (0, 3)
                      let! items = Gen.arrayOfLength (rows * cols) small
                      return Array2D.init rows cols (fun i j -> items.[i * cols + j])
                  }
              )
              1, Gen.constant null ]

    let variable (json: bool) : Gen<obj | null> =
        gen {
            let! _, make = Gen.elements makers
            let! value = raw json
            let! meta = metadataGen
            return box (make value meta)
        }

    let leaf (json: bool) : Gen<obj | null> =
        Gen.frequency [ 5, variable json; 3, raw json; 1, Gen.constant null ]

    /// How states are generated.
    type Shape =
        { Empties: bool
          IntNames: bool
          Json: bool }

    let general =
        { Empties = true
          IntNames = true
          Json = false }

    /// A node with about budget leaves below it; depth counts from the root (paths stay ≤ 5 keys).
    let rec node (shape: Shape) (depth: int) (budget: int) : Gen<State> =
        gen {
            let! wide =
                if budget >= 40 && depth <= 1 then
                    Gen.frequency [ 1, Gen.constant true; 6, Gen.constant false ]
                else
                    Gen.constant false

            let! keys =
                if wide then
                    gen {
                        // 33–80 children: beyond 64 (Chunk.FlatMax) the core keeps a node in a B+tree.
                        let! n = Gen.choose (33, min 80 budget)

                        let! renamed =
                            Gen.listOfLength
                                n
                                (Gen.frequency [ 6, Gen.constant None; 1, Gen.map Some (name shape.IntNames) ])

                        return
                            List.zip [ 0 .. n - 1 ] renamed
                            |> List.map (fun (i, r) ->
                                match r with
                                | Some s -> PathKey.FromName s
                                | None -> PathKey.FromIndex i)
                    }
                else
                    gen {
                        let! n =
                            if budget <= 0 then
                                Gen.constant 0
                            else
                                Gen.frequency [ 1, Gen.constant 0; 9, Gen.choose (1, min 8 budget) ]

                        let! style = Gen.choose (0, 3)

                        match style with
                        | 0 -> return [ for i in 0 .. n - 1 -> PathKey.FromIndex i ]
                        | 1 -> return! Gen.listOfLength n (name shape.IntNames |> Gen.map (fun s -> PathKey.FromName s))
                        | _ -> return! Gen.listOfLength n (key shape.IntNames)
                    }

            let keys = keys |> List.distinct

            // Kinds first (0 leaf, 1 sub-state, 2 empty sub-state), so that the sub-states share
            // what the leaves leave of the budget: about `budget` leaves in all.
            let canNest = depth < 4 && budget >= keys.Length + 2

            let! kinds =
                Gen.listOfLength
                    keys.Length
                    (weighted
                        [ 3, Gen.constant 0
                          (if canNest then 6 else 0), Gen.constant 1
                          (if shape.Empties then 1 else 0), Gen.constant 2 ])

            let leaves = kinds |> List.filter ((=) 0) |> List.length
            let subs = kinds |> List.filter ((=) 1) |> List.length
            let share = if subs = 0 then 0 else max 2 ((budget - leaves) / subs)

            let! children =
                List.zip keys kinds
                |> Gen.collectToList (fun (k, kind) ->
                    gen {
                        match kind with
                        | 1 ->
                            let! sub = node shape (depth + 1) share

                            if State.count sub = 0 && not shape.Empties then
                                let! l = leaf shape.Json
                                return k, l
                            else
                                return k, box sub
                        | 2 -> return k, box State.empty
                        | _ ->
                            let! l = leaf shape.Json
                            return k, l
                    })

            return State.ofSeq children
        }

    let state (shape: Shape) : Gen<State> =
        // About 0.8 leaves per unit of size on average, up to a couple of hundred at size 100.
        Gen.sized (fun size -> node shape 0 (2 * size))

    let private complexity (v: obj | null) =
        match v with
        | null -> 0
        | :? int as 0 -> 1
        | :? Variable as var when var.Metadata.Count > 0 -> 4
        | :? Variable -> 3
        | _ -> 2

    /// Simpler leaves, strictly lower in (null < 0 < raw < Variable < Variable with metadata).
    let rec shrinkLeaf (v: obj | null) : seq<obj | null> =
        seq {
            match v with
            | null -> ()
            | :? Variable as var ->
                yield var.Value

                if var.Metadata.Count > 0 then
                    match makerOf (var.GetType()) with
                    | Some make -> yield box (make var.Value None)
                    | None -> ()

                for x in shrinkLeaf var.Value do
                    yield box (var.WithValue x)
            | :? int as 0 -> yield null
            | _ -> yield box 0
        }
        |> Seq.filter (fun x -> complexity x < complexity v || (v :? Variable && x :? Variable))

    let private rebuild (kids: (PathKey * Child) list) =
        State.ofSeq
            [ for (k, c) in kids ->
                  match c with
                  | Child.Sub s -> k, box s
                  | Child.Leaf v -> k, v ]

    /// Fewer children, shallower trees, simpler leaves; never an empty sub-state unless allowed.
    let rec shrinkState (allowEmpties: bool) (s: State) : seq<State> =
        let kids = State.toSeq s |> List.ofSeq
        let n = kids.Length

        seq {
            if n > 2 then
                yield rebuild (List.take (n / 2) kids)
                yield rebuild (List.skip (n / 2) kids)

            for i in 0 .. n - 1 do
                yield rebuild (List.removeAt i kids)

            for i in 0 .. n - 1 do
                let k, c = kids.[i]

                match c with
                | Child.Sub sub ->
                    yield rebuild (List.updateAt i (k, Child.Leaf(box 0)) kids)

                    for smaller in shrinkState allowEmpties sub do
                        if allowEmpties || State.count smaller > 0 then
                            yield rebuild (List.updateAt i (k, Child.Sub smaller) kids)
                | Child.Leaf v ->
                    for x in shrinkLeaf v do
                        yield rebuild (List.updateAt i (k, Child.Leaf x) kids)
        }

    // -----------------------------------------------------------------------------------------
    // Filters

    let types =
        [| typeof<Variable>
           typeof<Param>
           typeof<BatchStat>
           typeof<Cache>
           typeof<Intermediate>
           typeof<Perturbation>
           typeof<RngState>
           typeof<RngKey>
           typeof<RngCount>
           typeof<OptState>
           typeof<MyParam>
           typeof<MyVariable>
           typeof<int>
           typeof<string>
           typeof<float>
           typeof<float32[]>
           typeof<Array>
           typeof<ValueType>
           typeof<obj> |]

    /// Built once, so that Where filters (equal by delegate identity) survive shrinking.
    let wheres =
        [| Filter.where (fun p _ -> p.Count % 2 = 0)
           Filter.where (fun _ leaf -> isNull leaf)
           Filter.where (fun p leaf ->
               match leaf with
               | :? Variable as v -> v.Value :? int || p.Count = 1
               | _ -> false) |]

    let patterns =
        [| ".*"
           "[^/]*"
           ".*/.*"
           "0/.*"
           ".*kernel"
           "a.*"
           "[0-9]+"
           ".*/0"
           ""
           "(a|b)/.*"
           "nl" |]

    let private randomPath =
        Gen.choose (1, 3)
        |> Gen.bind (fun n -> Gen.listOfLength n (key true))
        |> Gen.map (List.map rkey)

    let rec filterOf (paths: RPath array) (depth: int) : Gen<Filter> =
        let path =
            if paths.Length = 0 then
                randomPath
            else
                Gen.frequency [ 3, Gen.elements paths; 1, randomPath ]

        let prefix =
            path
            |> Gen.bind (fun p -> Gen.choose (0, p.Length) |> Gen.map (fun n -> List.truncate n p))

        let keyGen =
            let known = paths |> Array.collect Array.ofList |> Array.distinct

            if known.Length = 0 then
                key true
            else
                Gen.frequency [ 3, Gen.elements known |> Gen.map pkey; 1, key true ]

        let atoms =
            [ 3, Gen.elements types |> Gen.map Filter.ofTypeOf
              2, Gen.elements tags |> Gen.map Filter.withTag
              2, Gen.map2 (fun k exact -> PathContains(k, exact)) keyGen (Gen.elements [ true; false ])
              1,
              Gen.choose (0, 3)
              |> Gen.bind (fun n -> Gen.listOfLength n path)
              |> Gen.map (List.map toKeyPath >> Filter.pathIn)
              1, prefix |> Gen.map (toKeyPath >> Filter.pathStartsWith)
              1,
              Gen.frequency
                  [ 2, Gen.elements patterns
                    1, prefix |> Gen.map (fun p -> Regex.Escape(pathText p) + ".*")
                    1, path |> Gen.map (fun p -> Regex.Escape(pathText p)) ]
              |> Gen.map Filter.pathMatches
              1, Gen.constant Everything
              1, Gen.constant Nothing
              1, Gen.elements wheres ]

        if depth <= 0 then
            Gen.frequency atoms
        else
            let inner =
                Gen.choose (0, 3)
                |> Gen.bind (fun n -> Gen.listOfLength n (filterOf paths (depth - 1)))

            Gen.frequency (
                atoms
                @ [ 2, inner |> Gen.map Filter.any
                    2, inner |> Gen.map Filter.all
                    2, filterOf paths (depth - 1) |> Gen.map Filter.not ]
            )

    let rec shrinkFilter (f: Filter) : seq<Filter> =
        seq {
            match f with
            | Everything
            | Nothing -> ()
            | Any fs
            | All fs ->
                let rewrap =
                    if
                        (match f with
                         | Any _ -> true
                         | _ -> false)
                    then
                        Filter.any
                    else
                        Filter.all

                yield! fs

                for i in 0 .. fs.Length - 1 do
                    yield rewrap (List.removeAt i fs)

                for i in 0 .. fs.Length - 1 do
                    for g in shrinkFilter fs.[i] do
                        yield rewrap (List.updateAt i g fs)
            | Not g ->
                yield g

                for h in shrinkFilter g do
                    yield Filter.not h
            | _ ->
                yield Everything
                yield Nothing
        }

    let leafPaths (s: State) =
        (ofState s).Leaves |> Map.toSeq |> Seq.map fst |> Array.ofSeq

    let filterList (paths: RPath array) (exhaustive: bool) =
        gen {
            let! n = Gen.choose ((if exhaustive then 0 else 1), 4)
            let! fs = Gen.listOfLength n (filterOf paths 2)

            if exhaustive then
                // Everything only in the trailing positions.
                let fs = fs |> List.map (fun f -> if isEverything f then Nothing else f)
                let! extra = Gen.frequency [ 4, Gen.constant 0; 1, Gen.constant 1 ]
                return fs @ List.replicate (1 + extra) Everything
            else
                return fs
        }

    let shrinkFilterList (fs: Filter list) =
        seq {
            for i in 0 .. fs.Length - 1 do
                if fs.Length > 1 then
                    yield List.removeAt i fs

            for i in 0 .. fs.Length - 1 do
                for g in shrinkFilter fs.[i] do
                    yield List.updateAt i g fs
        }

    /// Shrinks keep Filter.Everything last so the exhaustive precondition holds.
    let shrinkExhaustive (fs: Filter list) =
        shrinkFilterList fs
        |> Seq.filter (fun gs -> not gs.IsEmpty && isEverything (List.last gs) && (everythingErrors gs).IsEmpty)

    // -----------------------------------------------------------------------------------------
    // Variants of a state

    let shuffle (xs: 'T list) = Gen.shuffle xs |> Gen.map List.ofArray

    /// A copy of a leaf that is equal but not the same object (arrays copied, Variables rebuilt, -0.0 for 0.0).
    let rec copyLeaf (v: obj | null) : obj | null =
        match v with
        | :? Variable as var -> box (var.WithValue(copyLeaf var.Value))
        | :? Array as a -> a.Clone()
        | :? float as d when d = 0.0 -> box (-0.0)
        | :? string as s -> box (String(s.ToCharArray()))
        | x -> x

    /// The same content inserted in another order, with copied leaves.
    let rebuiltShuffled (s: State) : Gen<State> =
        let m = ofState s

        let entries =
            [ for KeyValue(p, v) in m.Leaves -> p, copyLeaf v ]
            @ [ for p in m.Empties -> p, box State.empty ]

        shuffle entries
        |> Gen.map (fun es -> es |> List.fold (fun acc (p, v) -> State.set (toKeyPath p) v acc) State.empty)

    /// A related model: leaves kept, dropped or changed, sub-trees collapsed to leaves, leaves
    /// grown into sub-trees, new keys, empty sub-states.
    let variantModel (shape: Shape) (m: Model) : Gen<Model> =
        gen {
            let! leaves =
                m.Leaves
                |> Map.toList
                |> Gen.collectToList (fun (p, v) ->
                    Gen.frequency
                        [ 6, Gen.constant [ p, v ]
                          2, Gen.constant []
                          2, leaf shape.Json |> Gen.map (fun x -> [ p, x ])
                          1, Gen.map2 (fun k x -> [ p @ [ rkey k ], x ]) (key shape.IntNames) (leaf shape.Json) ])

            let mutable model = ofLeaves (List.concat leaves)

            // Keep about half of the empty sub-states, so that related states share some.
            for p in m.Empties do
                let! keep = Gen.elements [ true; false ]

                if keep then
                    match set p (box State.empty) model with
                    | Ok next -> model <- next
                    | Error _ -> ()

            let! extra = Gen.choose (0, 2)

            for _ in 1..extra do
                let! p =
                    let known = entryPaths m |> Array.ofSeq

                    if known.Length = 0 then
                        Gen.constant []
                    else
                        Gen.elements known |> Gen.map (fun p -> List.truncate (max 0 (p.Length - 1)) p)

                let! k = key shape.IntNames

                let! v =
                    weighted
                        [ 4, leaf shape.Json
                          (if shape.Empties then 1 else 0), Gen.constant (box State.empty) ]

                match set (p @ [ rkey k ]) v model with
                | Ok next -> model <- next
                | Error _ -> ()

            return model
        }

    let variant (shape: Shape) (s: State) : Gen<State> =
        variantModel shape (ofState s) |> Gen.map toState

    // -----------------------------------------------------------------------------------------
    // Pure dicts

    let private unknownName = Gen.elements [ "unknown"; "zz"; "05"; "+4"; "-0"; "99" ]

    let private pureValue =
        Gen.frequency
            [ 4, raw false |> Gen.map PLeaf
              1, Gen.map2 (fun (k: string) v -> PNode [ (k :> obj), PLeaf v ]) unknownName (raw false)
              1, Gen.constant (PNode []) ]

    /// A pure dict following the model's structure: entries kept, dropped, given new values or
    /// stringified keys; when noisy, also unknown keys, duplicates and sub-dicts and leaves swapped.
    let rec pureFor (noisy: bool) (m: Model) (p: RPath) : Gen<PD> =
        let noise (w: int) = if noisy then w else 0

        gen {
            let kids = childKeys m p |> List.ofSeq

            let! entries =
                kids
                |> Gen.collectToList (fun k ->
                    let child = p @ [ k ]

                    let value =
                        match kindAt m child with
                        | KLeaf v ->
                            weighted
                                [ 3, Gen.constant (PLeaf(valueOf v))
                                  2, raw false |> Gen.map PLeaf
                                  noise 1, pureValue ]
                        | _ ->
                            weighted
                                [ 6, pureFor noisy m child
                                  noise 1, raw false |> Gen.map PLeaf
                                  1, Gen.constant (PNode []) ]

                    let texts =
                        match k with
                        | I i -> [ i :> obj; string i :> obj ]
                        | S s -> [ s :> obj ]

                    weighted
                        [ 6, value |> Gen.map (fun v -> [ keyObj k, v ])
                          2, Gen.constant []
                          1, Gen.map2 (fun (t: obj) v -> [ t, v ]) (Gen.elements texts) value
                          // Both spellings of an int key: a duplicate.
                          (if texts.Length = 2 then noise 1 else 0),
                          Gen.map2 (fun v w -> [ texts.[0], v; texts.[1], w ]) value value ])

            let! extra =
                weighted
                    [ 5, Gen.constant []
                      noise 1, Gen.map2 (fun (k: string) v -> [ (k :> obj), v ]) unknownName pureValue
                      noise 1, Gen.map2 (fun (i: int) v -> [ (i :> obj), v ]) (Gen.choose (50, 60)) pureValue ]

            // Often in the node's key order, as ToPureDict lists them: replaceByPureDict has a fast
            // path for that order, and shuffled entries would almost never take it.
            let! order =
                weighted
                    [ 2, shuffle (List.concat entries @ extra)
                      1, Gen.constant (List.concat entries @ extra) ]
            // Keys must be distinct (by value) within one dictionary.
            return PNode(order |> List.distinctBy (fun (k, _) -> k))
        }

    /// A pure dict for restoreIntPaths: the template's string-keyed pure dict plus odd keys.
    let rec restoreInput (depth: int) (base': PD) : Gen<PD> =
        gen {
            match base' with
            | PLeaf _ -> return base'
            | PNode kids ->
                let! kept =
                    kids
                    |> Gen.collectToList (fun (k, v) ->
                        Gen.frequency
                            [ 5, restoreInput (depth + 1) v |> Gen.map (fun v -> [ k, v ])
                              1, Gen.constant []
                              1, Gen.constant [ k, PNode [] ] ])

                let oddKey =
                    Gen.frequency
                        [ 3,
                          Gen.elements [ "0"; "1"; "17"; "-3"; "05"; "+4"; " 2 "; "-0"; "1.5"; "2147483648"; "x" ]
                          |> Gen.map (fun s -> s :> obj)
                          2, Gen.choose (-3, 3) |> Gen.map (fun i -> i :> obj) ]

                let oddValue =
                    if depth >= 3 then
                        raw false |> Gen.map PLeaf
                    else
                        Gen.frequency
                            [ 3, raw false |> Gen.map PLeaf
                              1, Gen.constant (PNode [])
                              1, Gen.map2 (fun k v -> PNode [ k, PLeaf v ]) oddKey (raw false) ]

                let! n = Gen.frequency [ 3, Gen.constant 0; 2, Gen.constant 1; 1, Gen.constant 3 ]
                let! extra = Gen.listOfLength n (Gen.zip oddKey oddValue)
                let! order = shuffle (List.concat kept @ extra)
                return PNode(order |> List.distinctBy fst)
        }

    let rec shrinkPure (d: PD) : seq<PD> =
        seq {
            match d with
            | PLeaf v ->
                for x in shrinkLeaf v do
                    yield PLeaf x
            | PNode kids ->
                for i in 0 .. kids.Length - 1 do
                    yield PNode(List.removeAt i kids)

                for i in 0 .. kids.Length - 1 do
                    let k, v = kids.[i]

                    for w in shrinkPure v do
                        yield PNode(List.updateAt i (k, w) kids)
        }

    // -----------------------------------------------------------------------------------------
    // Paths and flat pairs

    let pathCase (s: State) : Gen<PathCase> =
        gen {
            let m = ofState s
            let entries = entryPaths m |> Array.ofSeq

            let existing =
                if entries.Length = 0 then
                    Gen.constant [ S "a" ]
                else
                    Gen.elements entries

            let! path =
                Gen.frequency
                    [ 4, existing
                      2, existing |> Gen.map (fun p -> List.truncate (max 1 (p.Length - 1)) p)
                      2, Gen.map2 (fun p k -> p @ [ rkey k ]) existing (key true)
                      1, randomPath
                      1, Gen.constant [] ]

            let! value =
                Gen.frequency
                    [ 5, leaf false
                      1, Gen.resize 6 (state general) |> Gen.map box
                      1, Gen.constant (box State.empty) ]

            return
                { Target = s
                  Path = path
                  Value = value }
        }

    let flatPairs (s: State) : Gen<FlatPairs> =
        gen {
            let m = ofState s
            let pairs = [ for KeyValue(p, v) in m.Leaves -> p, v ]
            let! shuffled = Gen.frequency [ 1, Gen.constant pairs; 2, shuffle pairs ]

            let! repeats =
                if pairs.IsEmpty then
                    Gen.constant []
                else
                    Gen.choose (0, 2)
                    |> Gen.bind (fun n ->
                        Gen.listOfLength n (Gen.map2 (fun (p, _) v -> p, v) (Gen.elements pairs) (leaf false)))

            let! grafts =
                Gen.frequency
                    [ 4, Gen.constant []
                      1, Gen.map2 (fun k (g: State) -> [ [ rkey k ], box g ]) (key true) (Gen.resize 5 (state general))
                      1, Gen.map (fun k -> [ [ rkey k ], box State.empty ]) (key true) ]

            let! clash =
                if pairs.IsEmpty then
                    Gen.constant []
                else
                    Gen.frequency
                        [ 6, Gen.constant []
                          // A leaf below an existing leaf.
                          1, Gen.map2 (fun (p, _) k -> [ p @ [ rkey k ], box 1 ]) (Gen.elements pairs) (key true)
                          // A leaf at a proper prefix of an existing leaf.
                          1,
                          Gen.elements pairs
                          |> Gen.map (fun (p, _) -> if p.Length > 1 then [ List.take 1 p, box 2 ] else [])
                          1, Gen.constant [ [], box 3 ] ]

            let! all = shuffle (shuffled @ repeats @ grafts @ clash)
            let! keepOrder = Gen.elements [ true; false ]

            return
                FlatPairs(
                    if keepOrder then
                        shuffled @ repeats @ grafts @ clash
                    else
                        all
                )
        }

    let private shrinkPathList (xs: 'T list) =
        seq {
            for i in 0 .. xs.Length - 1 do
                yield List.removeAt i xs
        }

    let shrinkFlatPairs (FlatPairs ps) = shrinkPathList ps |> Seq.map FlatPairs

    /// A state of 2–70 children with one structure (a quarter of them variants of it), the structure
    /// itself often repeated one level down.
    let rec repeated (levels: int) : Gen<State> =
        gen {
            let small = Gen.resize 6 (state general)

            let! template =
                if levels > 0 then
                    Gen.frequency [ 1, repeated (levels - 1); 1, small ]
                else
                    small

            // Often enough children that the node is too large to pack (more than 64 leaves):
            // ofFlat replays a sibling's structure only there.
            let! n = Gen.choose (2, max 2 (min 70 (1500 / max 1 template.LeafCount)))
            let! children = Gen.listOfLength n (Gen.frequency [ 3, Gen.constant template; 1, variant general template ])
            let! named = Gen.elements [ true; false ]

            let pairs =
                children
                |> List.mapi (fun i c ->
                    let k =
                        if named then
                            PathKey.FromName $"e{i}"
                        else
                            PathKey.FromIndex i

                    struct (KeyPath.Of k, box c))

            return
                match State.ofFlat pairs with
                | Ok s -> s
                | Error e -> failwith $"%A{e}"
        }

    let repeatedFlatPairs: Gen<RepeatedFlatPairs> =
        gen {
            let! s = repeated 1
            let mutable pairs = List.ofArray (State.flatten s)
            let! misses = Gen.frequency [ 2, Gen.constant 0; 3, Gen.choose (1, 2) ]

            for _ in 1..misses do
                if not pairs.IsEmpty then
                    let! j = Gen.choose (0, pairs.Length - 1)
                    let struct (p, _) = pairs.[j]
                    let sibling (k: PathKey) = p.Parent.Append k
                    let! k = key true
                    let! v = leaf false
                    let! graft = Gen.resize 3 (state general)

                    let! miss =
                        Gen.elements
                            [ List.removeAt j pairs
                              List.insertAt (j + 1) (struct (p, v)) pairs
                              pairs @ [ struct (sibling k, v) ]
                              pairs @ [ struct (p.Append k, v) ]
                              pairs @ [ struct (sibling k, box graft) ]
                              List.updateAt j (struct (p, box graft)) pairs ]

                    pairs <- miss

            // A stable sort: a repeated path stays after the pair it repeats.
            let sorted =
                pairs |> List.sortWith (fun (struct (p, _)) (struct (q, _)) -> p.CompareTo q)

            let! shared = Gen.frequency [ 3, Gen.constant true; 1, Gen.constant false ]

            return
                RepeatedFlatPairs(
                    sorted
                    |> List.map (fun (struct (p, v)) -> struct ((if shared then p else KeyPath.OfSeq(p.ToArray())), v))
                    |> Array.ofList
                )
        }

    let equalityCase (s: State) : Gen<EqualityCase> =
        Gen.frequency
            [ 3, rebuiltShuffled s
              2, variant general s
              1,
              rebuiltShuffled s
              |> Gen.bind (fun r ->
                  let m = ofState r

                  if m.Leaves.IsEmpty then
                      Gen.constant r
                  else
                      Gen.elements (m.Leaves |> Map.toArray)
                      |> Gen.map (fun (p, v) ->
                          // An equal-looking but different leaf: another type or an int/string key swap.
                          let other: obj | null =
                              match v with
                              | :? int as i -> box (int64 i)
                              | :? Param as x -> box (BatchStat(x.Value, x.Metadata))
                              | :? Variable as x -> box (Param(x.Value, x.Metadata))
                              | null -> box 0
                              | x -> box (Param x)

                          State.set (toKeyPath p) other r)) ]
        |> Gen.map (fun r -> { Left = s; Right = r })

/// The arbitraries of the suite: every generator with its shrinker.
type Arbs =
    static member State() : Arbitrary<State> =
        Arb.fromGenShrink (Gens.state Gens.general, Gens.shrinkState true)

    static member FlatState() : Arbitrary<FlatState> =
        Arb.fromGenShrink (
            Gens.state { Gens.general with Empties = false } |> Gen.map FlatState,
            fun (FlatState s) -> Gens.shrinkState false s |> Seq.map FlatState
        )

    static member NoIntNames() : Arbitrary<NoIntNames> =
        Arb.fromGenShrink (
            Gens.state
                { Gens.general with
                    Empties = false
                    IntNames = false }
            |> Gen.map NoIntNames,
            fun (NoIntNames s) -> Gens.shrinkState false s |> Seq.map NoIntNames
        )

    static member JsonState() : Arbitrary<JsonState> =
        Arb.fromGenShrink (
            Gens.state
                { Gens.general with
                    Empties = false
                    Json = true }
            |> Gen.map JsonState,
            fun (JsonState s) -> Gens.shrinkState false s |> Seq.map JsonState
        )

    static member Filter() : Arbitrary<Filter> =
        Arb.fromGenShrink (Gens.filterOf [||] 3, Gens.shrinkFilter)

    static member MatchCase() : Arbitrary<MatchCase> =
        let generate =
            gen {
                let! s = Gens.state Gens.general
                let! fs = Gens.filterList (Gens.leafPaths s) false
                return { Subject = s; Tests = fs }
            }

        let shrink (c: MatchCase) =
            Seq.append
                (Gens.shrinkState true c.Subject |> Seq.map (fun s -> { c with Subject = s }))
                (Gens.shrinkFilterList c.Tests |> Seq.map (fun fs -> { c with Tests = fs }))

        Arb.fromGenShrink (generate, shrink)

    static member FilterCase() : Arbitrary<FilterCase> =
        let generate =
            gen {
                let! s = Gens.state Gens.general
                let! fs = Gens.filterList (Gens.leafPaths s) false
                return { State = s; Filters = fs }
            }

        let shrink (c: FilterCase) =
            Seq.append
                (Gens.shrinkState true c.State |> Seq.map (fun s -> { c with State = s }))
                (Gens.shrinkFilterList c.Filters |> Seq.map (fun fs -> { c with Filters = fs }))

        Arb.fromGenShrink (generate, shrink)

    static member ExhaustiveCase() : Arbitrary<ExhaustiveCase> =
        let generate =
            gen {
                let! s = Gens.state { Gens.general with Empties = false }

                let! fs = Gens.filterList (Gens.leafPaths s) true
                return { Exhaustive = s; Groups = fs }
            }

        let shrink (c: ExhaustiveCase) =
            Seq.append
                (Gens.shrinkState false c.Exhaustive
                 |> Seq.map (fun s -> { c with Exhaustive = s }))
                (Gens.shrinkExhaustive c.Groups |> Seq.map (fun fs -> { c with Groups = fs }))

        Arb.fromGenShrink (generate, shrink)

    static member PathCase() : Arbitrary<PathCase> =
        let shrink (c: PathCase) =
            seq {
                if c.Path.Length > 1 then
                    yield
                        { c with
                            Path = List.take (c.Path.Length - 1) c.Path }

                for v in Gens.shrinkLeaf c.Value do
                    yield { c with Value = v }

                for s in Gens.shrinkState true c.Target do
                    yield { c with Target = s }
            }

        Arb.fromGenShrink (Gens.state Gens.general |> Gen.bind Gens.pathCase, shrink)

    static member Related() : Arbitrary<Related> =
        let generate =
            gen {
                let! s = Gens.state Gens.general
                let! n = Gen.choose (0, 4)

                let! others =
                    Gen.listOfLength
                        n
                        (Gen.frequency
                            [ 4, Gens.variant Gens.general s
                              1, Gen.constant State.empty
                              1, Gens.state Gens.general ])

                let! all = Gens.shuffle (s :: others)
                return Related all
            }

        let shrink (Related ss) =
            seq {
                for i in 0 .. ss.Length - 1 do
                    yield Related(List.removeAt i ss)

                for i in 0 .. ss.Length - 1 do
                    for s in Gens.shrinkState true ss.[i] do
                        yield Related(List.updateAt i s ss)
            }

        Arb.fromGenShrink (generate, shrink)

    static member ReplaceCase() : Arbitrary<ReplaceCase> =
        let generate =
            gen {
                let! s = Gens.state Gens.general
                let! noisy = Gen.elements [ true; false ]
                let! pure' = Gens.pureFor noisy (ofState s) []
                let! flavor = Gen.elements [ ObjectKeys; StringKeys; ReadOnlyStrings; Mixed ]
                let! custom = Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ]
                let! strict = Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ]

                return
                    { Original = s
                      Pure = pure'
                      Flavor = flavor
                      Custom = custom
                      Strict = strict }
            }

        let shrink (c: ReplaceCase) =
            Seq.append
                (Gens.shrinkPure c.Pure |> Seq.map (fun d -> { c with Pure = d }))
                (Gens.shrinkState true c.Original |> Seq.map (fun s -> { c with Original = s }))

        Arb.fromGenShrink (generate, shrink)

    static member RestoreCase() : Arbitrary<RestoreCase> =
        let generate =
            gen {
                let! t = Gens.state Gens.general
                let! d = Gens.restoreInput 0 (stringKeyed (toPure valueOf (ofState t)))
                let! flavor = Gen.elements [ ObjectKeys; StringKeys; ReadOnlyStrings; Mixed ]

                return
                    { Template = t
                      Input = d
                      Shape = flavor }
            }

        let shrink (c: RestoreCase) =
            Seq.append
                (Gens.shrinkPure c.Input |> Seq.map (fun d -> { c with Input = d }))
                (Gens.shrinkState true c.Template |> Seq.map (fun s -> { c with Template = s }))

        Arb.fromGenShrink (generate, shrink)

    static member FlatPairs() : Arbitrary<FlatPairs> =
        Arb.fromGenShrink (Gens.state Gens.general |> Gen.bind Gens.flatPairs, Gens.shrinkFlatPairs)

    static member WideFlatPairs() : Arbitrary<WideFlatPairs> =
        let wide =
            gen {
                let! n = Gen.choose (65, 200)
                let! subs = Gen.listOfLength n (Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ])

                let pairs =
                    subs
                    |> List.mapi (fun i sub ->
                        let path =
                            if sub then
                                KeyPath.Of(PathKey.FromIndex i, PathKey.FromName "w")
                            else
                                KeyPath.Of(PathKey.FromIndex i)

                        struct (path, box (Param(i))))

                return
                    match State.ofFlat pairs with
                    | Ok s -> s
                    | Error e -> failwith $"%A{e}"
            }

        Arb.fromGenShrink (
            wide
            |> Gen.bind Gens.flatPairs
            |> Gen.map (fun (FlatPairs ps) -> WideFlatPairs ps),
            fun (WideFlatPairs ps) ->
                Gens.shrinkFlatPairs (FlatPairs ps)
                |> Seq.map (fun (FlatPairs q) -> WideFlatPairs q)
        )

    static member RepeatedFlatPairs() : Arbitrary<RepeatedFlatPairs> =
        Arb.fromGenShrink (
            Gens.repeatedFlatPairs,
            fun (RepeatedFlatPairs ps) -> Seq.init ps.Length (fun i -> RepeatedFlatPairs(Array.removeAt i ps))
        )

    static member EqualityCase() : Arbitrary<EqualityCase> =
        // The properties hold for any pair, so each side shrinks on its own.
        let shrink (c: EqualityCase) =
            Seq.append
                (Gens.shrinkState true c.Left |> Seq.map (fun s -> { c with Left = s }))
                (Gens.shrinkState true c.Right |> Seq.map (fun s -> { c with Right = s }))

        Arb.fromGenShrink (Gens.state Gens.general |> Gen.bind Gens.equalityCase, shrink)

    static member PathKey() : Arbitrary<PathKey> =
        let shrink (k: PathKey) =
            if k.IsIndex then
                (if k.Index = 0 then
                     Seq.empty
                 else
                     Seq.singleton (PathKey.FromIndex 0))
            elif k.Name = "a" then
                Seq.empty
            else
                Seq.singleton (PathKey.FromName "a")

        Arb.fromGenShrink (Gens.key true, shrink)

    static member KeyPath() : Arbitrary<KeyPath> =
        let generate =
            Gen.choose (0, 4)
            |> Gen.bind (fun n -> Gen.listOfLength n (Gens.key true))
            |> Gen.map KeyPath.OfSeq

        let shrink (p: KeyPath) =
            if p.Count = 0 then Seq.empty else Seq.singleton p.Parent

        Arb.fromGenShrink (generate, shrink)
