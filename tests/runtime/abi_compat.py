#!/usr/bin/env python3
"""abi_compat.py BASELINE.xml CURRENT.xml -- the comfyd SDK ABI rule, checked
on two abidw dumps.

comfy.h's rule: every struct that crosses the pack boundary is size-prefixed
and only grows at the end; enums only gain values.  So the current ABI is
compatible when, for every struct, union and enum of the baseline:
  * the same name exists in the current dump;
  * each baseline data member is still there, at the same position, with the
    same name, offset and type (types compared structurally by name,
    through pointers, typedefs, qualifiers, arrays and function types);
    members may only be appended after them;
  * each baseline enumerator keeps its value;
  * each baseline typedef (function pointer types such as comfy_execute_fn)
    still names the same type.
Exit status 0 when compatible, 1 with one line per problem otherwise.
"""
import sys
import xml.etree.ElementTree as ET


def load(path):
    root = ET.parse(path).getroot()
    by_id, named = {}, {}
    for el in root.iter():
        tid = el.get("id")
        if tid and el.tag in ("type-decl", "class-decl", "union-decl", "enum-decl",
                              "typedef-decl", "pointer-type-def", "qualified-type-def",
                              "array-type-def", "function-type", "subrange",
                              "reference-type-def"):
            # Keep a definition over a declaration-only entry.
            if tid not in by_id or by_id[tid].get("is-declaration-only") == "yes":
                by_id[tid] = el
        if el.tag in ("class-decl", "union-decl", "enum-decl", "typedef-decl") and \
                el.get("name"):
            prev = named.get((el.tag, el.get("name")))
            if prev is None or prev.get("is-declaration-only") == "yes":
                named[(el.tag, el.get("name"))] = el
    return by_id, named


def type_str(by_id, tid, depth=0):
    """A structural name for a type: enough to see any change of a member's
    type without descending into named structs (they are checked apart)."""
    if depth > 32:
        return "..."
    el = by_id.get(tid)
    if el is None:
        return "?" + str(tid)
    t = el.tag
    if t == "type-decl":
        return el.get("name")
    if t in ("class-decl", "union-decl", "enum-decl"):
        kind = {"class-decl": "struct", "union-decl": "union", "enum-decl": "enum"}[t]
        return "%s %s" % (kind, el.get("name") or "<anon>")
    if t == "typedef-decl":
        return el.get("name")
    if t == "pointer-type-def":
        return type_str(by_id, el.get("type-id"), depth + 1) + "*"
    if t == "qualified-type-def":
        quals = [q for q in ("const", "volatile", "restrict") if el.get(q) == "yes"]
        return " ".join(quals + [type_str(by_id, el.get("type-id"), depth + 1)])
    if t == "array-type-def":
        dims = [s.get("length") for s in el.findall("subrange")]
        return type_str(by_id, el.get("type-id"), depth + 1) + "".join(
            "[%s]" % d for d in dims)
    if t == "function-type":
        params = []
        ret = "void"
        for c in el:
            if c.tag == "parameter":
                params.append("..." if c.get("is-variadic") == "yes"
                              else type_str(by_id, c.get("type-id"), depth + 1))
            elif c.tag == "return":
                ret = type_str(by_id, c.get("type-id"), depth + 1)
        return "fn(%s)->%s" % (", ".join(params), ret)
    return t


def members(el):
    out = []
    for dm in el.findall("data-member"):
        var = dm.find("var-decl")
        out.append((var.get("name"), dm.get("layout-offset-in-bits"), var.get("type-id")))
    return out


def main():
    b_ids, b_named = load(sys.argv[1])
    c_ids, c_named = load(sys.argv[2])
    problems = []
    for (tag, name), bel in sorted(b_named.items()):
        cel = c_named.get((tag, name))
        if cel is None:
            problems.append("%s %s: removed" % (tag, name))
            continue
        if tag == "typedef-decl":
            bt = type_str(b_ids, bel.get("type-id"))
            ct = type_str(c_ids, cel.get("type-id"))
            if bt != ct:
                problems.append("typedef %s: was %s, now %s" % (name, bt, ct))
            continue
        if tag == "enum-decl":
            cvals = {e.get("name"): e.get("value") for e in cel.findall("enumerator")}
            for e in bel.findall("enumerator"):
                if cvals.get(e.get("name")) != e.get("value"):
                    problems.append("enum %s: %s was %s, now %s" % (
                        name, e.get("name"), e.get("value"), cvals.get(e.get("name"))))
            continue
        if bel.get("is-declaration-only") == "yes":
            continue  # opaque in the baseline: its layout is not ABI
        if cel.get("is-declaration-only") == "yes":
            problems.append("struct %s: no longer defined" % name)
            continue
        bm, cm = members(bel), members(cel)
        if int(cel.get("size-in-bits", 0)) < int(bel.get("size-in-bits", 0)):
            problems.append("struct %s: shrank" % name)
        for i, (mname, off, tid) in enumerate(bm):
            if i >= len(cm):
                problems.append("struct %s: member %s removed" % (name, mname))
                break
            cname, coff, ctid = cm[i]
            if cname != mname or coff != off:
                problems.append("struct %s: member %d was %s at bit %s, now %s at bit %s"
                                % (name, i, mname, off, cname, coff))
                continue
            bt, ct = type_str(b_ids, tid), type_str(c_ids, ctid)
            if bt != ct:
                problems.append("struct %s: member %s changed type from %s to %s"
                                % (name, mname, bt, ct))
    for p in problems:
        print("incompatible:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
