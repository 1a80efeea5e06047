#!/usr/bin/python3
"""keyhold next to the peers, from one run's results.tsv and meta.tsv.

usage: compare.py RESDIR        print markdown (also written to RESDIR/keyhold-report.md)

The peers' own report (summarize.py report) lists every row; this one puts
keyhold's rows beside the matching peer rows, divides medians (ratios from
the same run), and checks keyhold's performance targets.
"""
import os
import re
import sys

# (operation, keyhold rows [(label, name)], peer rows [(label, name)])
OPS = [
    ("show one (10k)",
     [("keyhold, agent", "keyhold_show"), ("keyhold, no agent (KDF)", "keyhold_unlock_show")],
     [("keepassxc-cli KDBX 4 (GUI-default Argon2d)", "kx_show_10k_argon"),
      ("keepassxc-cli KDBX 3.1 (db-create default)", "kx_show_10k_aes"),
      ("pass", "pass_show_10k"),
      ("gopass gpg", "gopass_show_10k"),
      ("gopass age", "gopass_age_show_10k")]),
    ("search (10k)",
     [("keyhold, agent", "keyhold_search"), ("keyhold, no agent (KDF)", "keyhold_unlock_search")],
     [("keepassxc-cli KDBX 4", "kx_search_10k_argon"),
      ("keepassxc-cli KDBX 3.1", "kx_search_10k_aes"),
      ("pass find", "pass_find_10k"),
      ("gopass find", "gopass_find_10k")]),
    ("add one (10k)",
     [("keyhold, agent", "keyhold_add")],
     [("keepassxc-cli KDBX 4", "kx_add_10k_argon"),
      ("keepassxc-cli KDBX 3.1", "kx_add_10k_aes"),
      ("pass insert", "pass_add_10k"),
      ("gopass insert", "gopass_add_10k")]),
    ("list (10k)",
     [("keyhold, agent", "keyhold_list")],
     [("pass ls", "pass_ls_10k"), ("gopass ls --flat", "gopass_ls_10k")]),
    ("create",
     [("keyhold init (calibrates, then derives)", "keyhold_init")],
     [("keepassxc-cli db-create", "kx_create"), ("pass init", "pass_init"),
      ("gopass init (gpg)", "gopass_init"), ("gopass setup (age)", "gopass_age_setup")]),
    ("import 10k",
     [("keyhold import --format csv (one KDF)", "keyhold_import_10k")],
     [("keepassxc-cli import (XML, KDBX 3.1)", "kx_import_10k")]),
    ("start-up",
     [("keyhold --help", "keyhold_help")],
     [("gohello (bare Go binary)", "go_hello"), ("pass version", "pass_version"),
      ("gopass --version", "gopass_version"), ("keepassxc-cli --version", "kx_version")]),
]


def load(path):
    rows = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if p and p[0]:
                    rows[p[0]] = p
    return rows


def fmt(ms):
    if ms is None:
        return "n/m"
    return f"{ms / 1000:.2f} s" if ms >= 1000 else (f"{ms:.1f} ms" if ms < 20 else f"{ms:.0f} ms")


def main():
    res = sys.argv[1]
    rows = load(os.path.join(res, "results.tsv"))
    meta = {k: v[1] for k, v in load(os.path.join(res, "meta.tsv")).items()}

    def med(name):
        r = rows.get(name)
        return float(r[2]) if r else None

    def rss(name):
        r = rows.get(name)
        return f"{float(r[7]):.0f} MiB" if r and r[7] else "n/m"

    out = ["| operation | tool | median | peak RSS | peer / keyhold (agent) | peer / keyhold (no agent) |",
           "|---|---|---|---|---|---|"]
    for op, khs, peers in OPS:
        base = [med(n) for _, n in khs]
        for label, name in khs:
            out.append(f"| {op} | **{label}** | **{fmt(med(name))}** | {rss(name)} | | |")
        for label, name in peers:
            m = med(name)
            ratios = []
            for b in (base + [None])[:2]:
                ratios.append(f"{m / b:.1f}x" if m is not None and b else "")
            out.append(f"| {op} | {label} | {fmt(m)} | {rss(name)} | {ratios[0]} | {ratios[1]} |")
    out.append("")

    def pair(key):
        v = meta.get("pair." + key, "")
        m = re.search(r"A ([\d.]+) ms, B ([\d.]+) ms, A-B ([+-][\d.]+) ms, A/B ([\d.]+)x", v)
        return tuple(float(x) for x in m.groups()) if m else None

    # targets
    show, search, add = med("keyhold_show"), med("keyhold_search"), med("keyhold_add")
    s100, imp = med("keyhold_search_100k"), med("keyhold_import_10k")
    ushow, vempty, helpf = med("keyhold_unlock_show"), med("keyhold_unlock_verify_empty"), med("keyhold_help")
    kx, pshow, pfind = med("kx_show_10k_argon"), med("pass_show_10k"), med("pass_find_10k")
    gofloor = med("go_hello") or 0.0
    # the KDF as a command pays it: one derivation in a fresh process, less
    # that bare process' start-up
    kdf_alone = med("keyhold_kdf_alone")
    kdf = kdf_alone - gofloor if kdf_alone else (vempty - helpf if vempty and helpf else None)
    p_kdf = pair("keyhold_unlock_show_vs_kdf")
    p_empty = pair("keyhold_unlock_show_vs_verify_empty")
    # unlock+show minus the KDF: paired against a bare Go process that only
    # derives the key (bench/kdftime), plus that process' own floor
    over = None
    if p_kdf:
        over = p_kdf[2] + gofloor
    elif ushow and kdf:
        over = ushow - kdf
    def rss_of(*names):
        return [float(rows[n][7]) for n in names if n in rows and rows[n][7]]
    client_rss = rss_of("keyhold_show", "keyhold_search", "keyhold_add", "keyhold_show_100k", "keyhold_search_100k")
    list_rss = rss_of("keyhold_list")

    def check(label, ok, value, target):
        if ok is None:
            out.append(f"| {label} | {target} | n/m | not measured |")
        else:
            out.append(f"| {label} | {target} | {value} | {'met' if ok else '**missed**'} |")

    out.append("| target | wanted | measured | |")
    out.append("|---|---|---|---|")
    check("show, agent", show and show <= 7, fmt(show), "<= 7 ms")
    check("show vs keepassxc-cli KDBX 4", show and kx and kx / show >= 100,
          f"{kx / show:.0f}x" if show and kx else "", ">= 100x")
    check("show vs pass", show and pshow and pshow / show >= 4,
          f"{pshow / show:.1f}x" if show and pshow else "", ">= 4x")
    check("search 10k, agent", search and search <= 10, fmt(search), "<= 10 ms")
    check("search vs pass find", search and pfind and pfind / search >= 4,
          f"{pfind / search:.1f}x" if search and pfind else "", ">= 4x")
    check("add, agent", add and add <= 10, fmt(add), "<= 10 ms")
    check("search 100k, agent", s100 and s100 < 200, fmt(s100), "< 200 ms")
    check("import 10k minus one KDF", imp and kdf and imp - kdf < 3000,
          fmt(imp - kdf) if imp and kdf else "", "< 3 s")
    check("unlock+show minus KDF", (over <= 15) if over is not None else None, fmt(over) if over is not None else "",
          "<= 15 ms")
    check("client peak RSS, agent (largest of show/search/add, 10k and 100k)",
          (max(client_rss) < 15) if client_rss else None,
          f"{max(client_rss):.1f} MiB" if client_rss else "", "< 15 MiB")
    check("client peak RSS, agent, list of 10k", (max(list_rss) < 15) if list_rss else None,
          f"{max(list_rss):.1f} MiB" if list_rss else "", "< 15 MiB")
    out.append("")
    out.append(f"KDF: {fmt(kdf)} (bench/kdftime, keys.Derive once in a fresh process, less the bare Go floor; "
               f"{meta.get('keyhold.kdf_ms_warm', '?').split(' ')[0]} ms when repeated in one process), parameters "
               f"{meta.get('keyhold.kdf', '?')}; verify of an empty vault with them: {fmt(vempty)}, "
               f"`keyhold --help`: {fmt(helpf)}, bare Go binary: {fmt(med('go_hello'))}.")
    if p_kdf:
        out.append(f"unlock+show minus KDF = (show without agent - kdftime, paired: {p_kdf[2]:+.1f} ms) "
                   f"+ bare Go process floor ({fmt(gofloor)}) = {fmt(over)}.")
    if p_empty:
        out.append(f"show without agent - verify of the empty vault (paired): {p_empty[2]:+.1f} ms.")
    out.append("")
    for k in sorted(meta):
        if k.startswith("pair.") or k.startswith("keyhold."):
            out.append(f"- `{k}`: {meta[k].split(' | A: ')[0]}")
    text = "\n".join(out) + "\n"
    with open(os.path.join(res, "keyhold-report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
