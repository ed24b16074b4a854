#!/usr/bin/python3
"""deps.py: the dependency graph of server/, its cycles, and the layering rules.

A unit is server/NAME.c with server/NAME.h merged (a header without a .c is a
unit of its own). Unit A depends on unit B when
  (a) a file of A has  #include "B.h"  (quoted, a header of server/; proto's
      lc_proto.h / lc_buf.h and every <system> header are not units), or
  (b) A's .c uses (calls, or takes the address of) a function or global that
      B's .c defines (not static).
(b) is measured from object files when --objdir is given (nm: the U symbols of
X.c.o against the T/D/B/R symbols of the others), else from the sources
(ctags -x for non-static definitions, then a word scan of each .c with comments
and strings removed). Either way the bodies of static inline functions in
headers are word-scanned, since a header has no object file of its own.
See tools/DEPS.md. Python 3 standard library only, plus nm / ctags if present.

Exit status: 1 when there is a cycle or a rule violation (with --strict also
a file or function over the size limits), else 0.
"""

import argparse
import fnmatch
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import defaultdict

# ---------------------------------------------------------------------------
# RULES. Unit patterns are fnmatch patterns on unit names; '!PAT' removes;
# '@features' = every feature unit; '@other-features' (targets only) = feature
# units of another feature than the source unit's; '@registry' = the feature
# registry. "Depend" = directly, by include or by call. Add a row to add a rule.
# ---------------------------------------------------------------------------

# Feature units, besides those the registry lists (lines like
# `&lc_sale_feature,`). A feature NAME also covers the units NAME_*.
FEATURES = ['sale', 'moderation', 'checkout', 'coupon', 'lottery', 'board', 'funnel']

# The feature registry: these units, and any .c whose initializer lists
# `&..._feature` entries (server/features.c, or feature_list.c).
REGISTRY = ['features', 'feature_list']

ROOM = ['room', 'room_*']
STORE = ['store', 'store_*']

RULES = [
    # (name, these units, must not depend on, why -- one line)
    ('room-engine', ROOM,
     ['@features', 'net', 'session', 'http', 'api', 'static', 'status', 'main'],
     'the room engine is the core: features and the transport call into it, never the reverse'),
    ('conn', ['conn'], ROOM + ['session', '@features', 'net'],
     'a connection is transport-neutral and below the rooms: rooms set hooks on it'),
    ('store', STORE, ROOM + ['conn', 'session', '@features', 'net', 'http'],
     'the Redis layer knows keys and scripts, not who asks: testable against redis alone'),
    ('no-main', ['*'], ['main'],
     'main wires the program together; nothing calls back up into it'),
    ('feature-edge', ['@features'], ['session', 'net', 'http', 'api', 'main'],
     'a feature sees the room engine and conn, not the transport or the dispatcher that calls it'),
    ('feature-alone', ['@features'], ['@other-features'],
     'features are independent: removing one must not break another'),
    ('feature-registry', ['*', '!@registry', '!main', '!@features'], ['@features'],
     'only the registry and main name features; the rest reach them through it'),
]

INCLUDE_RULES = [
    # (name, <system header> fnmatch pattern, only these units may include it, why)
    ('lws-edge', 'libwebsockets.h', ['net', 'net_pmd', 'upgrade', 'listen', 'http'],
     'libwebsockets stays at the edge, so the core builds and is tested without it'),
    ('hiredis-store', 'hiredis/*', ['store', 'store_node', 'store_call', 'store_cluster', 'store_conn', 'store_sub', 'redis_uv'],
     'hiredis is the store\'s business; everyone else sees store.h'),
]

# Headers of other directories that a quoted include may name (not units).
NOT_UNITS = {'lc_proto.h', 'lc_buf.h'}

# A private header NAME_int.h belongs to unit NAME when server/NAME.c or
# NAME.h exists (else it is a unit of its own).
PRIVATE_SUFFIXES = ['_int']

MAX_FILE_LINES = 550
MAX_FUNC_LINES = 60

# nm type letters of a global definition.
NM_DEFINED = set('TDBRCGSVW')


# ---------------------------------------------------------------------------
# C text helpers
# ---------------------------------------------------------------------------

def strip_c(text, keep_strings=False):
    """Comments (and, unless keep_strings, string and char literals) to spaces;
    newlines kept, so line numbers and offsets stay."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nx = text[i + 1] if i + 1 < n else ''
        if c == '/' and nx == '*':
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif c == '/' and nx == '/':
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            if keep_strings:
                out.append(text[i:j])
            else:
                out.append(c + re.sub(r'[^\n]', ' ', text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def blank_preprocessor(text):
    """Preprocessor lines (with their continuations) to spaces."""
    lines = text.split('\n')
    cont = False
    for k, line in enumerate(lines):
        if cont or line.lstrip().startswith('#'):
            cont = line.rstrip().endswith('\\')
            lines[k] = ' ' * len(line)
    return '\n'.join(lines)


IDENT = re.compile(r'[A-Za-z_]\w*')


def words(text):
    """Identifiers that are not a member name (after '.' or '->')."""
    found = set()
    for m in IDENT.finditer(text):
        k = m.start() - 1
        while k >= 0 and text[k] in ' \t\n':
            k -= 1
        if k >= 0 and (text[k] == '.' or (text[k] == '>' and k > 0 and text[k - 1] == '-')):
            continue
        found.add(m.group(0))
    return found


def functions(text):
    """Top-level function definitions of stripped C text: a simple brace
    matcher. Returns dicts: name, start and end line (the signature's first
    line, the closing brace's line), static, body (the text between braces)."""
    code = blank_preprocessor(text)
    res = []
    depth = 0
    decl_start = 0
    body_open = None
    decl = ''
    for i, c in enumerate(code):
        if c == '{':
            if depth == 0:
                decl = code[decl_start:i]
                body_open = i
            depth += 1
        elif c == '}':
            depth -= 1
            if depth < 0:
                depth = 0
            if depth == 0 and body_open is not None:
                d = decl.strip()
                m = re.match(r'(.*?)\b([A-Za-z_]\w*)\s*\(', d, re.S)
                if m and d.endswith(')') and '=' not in d.split('(')[0] \
                        and not re.match(r'typedef\b', d):
                    lead = len(decl) - len(decl.lstrip())
                    start = code.count('\n', 0, decl_start + lead) + 1
                    res.append({'name': m.group(2), 'start': start,
                                'end': code.count('\n', 0, i) + 1,
                                'static': re.search(r'\bstatic\b', m.group(1)) is not None,
                                'body': text[body_open + 1:i]})
                body_open = None
                decl_start = i + 1
        elif c == ';' and depth == 0:
            decl_start = i + 1
    return res


# ---------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------

class Tree:
    def __init__(self, root):
        self.root = root
        self.sdir = os.path.join(root, 'server')
        if not os.path.isdir(self.sdir):
            sys.exit('deps: no server/ under %s' % root)
        names = sorted(f for f in os.listdir(self.sdir)
                       if (f.endswith('.c') or f.endswith('.h'))
                       and os.path.isfile(os.path.join(self.sdir, f)))
        self.files = {}      # file name -> unit
        self.units = defaultdict(list)
        for f in names:
            u = f[:-2]
            for suf in PRIVATE_SUFFIXES:
                base = u[:-len(suf)]
                if u.endswith(suf) and (base + '.c' in names or base + '.h' in names):
                    u = base
            self.files[f] = u
            self.units[u].append(f)
        self.text = {}
        self.stripped = {}
        for f in names:
            with open(os.path.join(self.sdir, f), encoding='utf-8', errors='replace') as fh:
                self.text[f] = fh.read()
            self.stripped[f] = strip_c(self.text[f], keep_strings=True)

    def c_files(self):
        return [f for f in self.files if f.endswith('.c')]

    def includes(self):
        """(quoted: list of (file, header unit)), (system: list of (file, path))."""
        quoted, system = [], []
        for f, t in self.stripped.items():
            for m in re.finditer(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', t, re.M):
                path = m.group(2)
                if m.group(1) == '<':
                    system.append((f, path))
                    continue
                base = os.path.basename(path)
                if base in NOT_UNITS or base not in self.files or not base.endswith('.h'):
                    continue
                quoted.append((f, base))
        return quoted, system


# ---------------------------------------------------------------------------
# Cross-file references: from objects (nm) or from sources (ctags + words)
# ---------------------------------------------------------------------------

def ctags_defs(tree, cfiles, notes):
    """{file: set(non-static function and global names)} from ctags, or from
    the brace matcher when ctags is missing."""
    out = {f: set() for f in cfiles}
    if not cfiles:
        return out
    ctags = shutil.which('ctags')
    if ctags:
        try:
            r = subprocess.run([ctags, '-x', '--c-kinds=fv', '--extras=-F', '--language-force=C']
                               + cfiles, cwd=tree.sdir, capture_output=True, text=True, check=True)
            for line in r.stdout.splitlines():
                p = line.split(None, 4)
                if len(p) >= 4 and p[3] in out and p[1] in ('function', 'variable', 'f', 'v'):
                    out[p[3]].add(p[0])
            return out
        except (subprocess.CalledProcessError, OSError) as e:
            notes.append('ctags failed (%s): definitions from the brace matcher' % e)
    else:
        notes.append('no ctags: function definitions from the brace matcher, globals not seen')
    for f in cfiles:
        out[f] = {fn['name'] for fn in functions(strip_c(tree.text[f])) if not fn['static']}
    return out


def own_names(tree, f):
    """The names a .c file declares itself (functions and variables, static
    or not, locals, parameters, macros, enumerators, typedefs; not struct
    members, which the word scan skips anyway): a use of such a name is not a
    use of another unit's global."""
    ctags = shutil.which('ctags')
    if not ctags:
        return {fn['name'] for fn in functions(strip_c(tree.text[f]))}
    r = subprocess.run([ctags, '-x', '--c-kinds=fvlzdet', '--language-force=C', f],
                       cwd=tree.sdir, capture_output=True, text=True)
    return {line.split(None, 1)[0] for line in r.stdout.splitlines() if line.strip()}


def header_inlines(tree):
    """{header: [its (static inline) function definitions]}: headers have no
    object, so these are read from the source in both modes."""
    return {f: functions(strip_c(tree.text[f])) for f in tree.files if f.endswith('.h')}


def object_unit(tree, oname):
    """X.c.o -> the unit of server/X.c; meson-generated_.._X.c.o (a generated
    source) -> unit X if server/ has X.h."""
    if not oname.endswith('.c.o'):
        return None, None
    stem = oname[:-4]
    if stem.startswith('meson-generated_'):
        stem = stem[len('meson-generated_'):]
        while stem.startswith('.._'):
            stem = stem[3:]
        return tree.files.get(stem + '.h'), None
    return (stem if stem + '.c' in tree.files else None), stem + '.c'


def nm_symbols(path):
    r = subprocess.run(['nm', '-P', path], capture_output=True, text=True, check=True)
    defined, undefined = set(), set()
    for line in r.stdout.splitlines():
        p = line.split()
        if len(p) < 2:
            continue
        name, typ = p[0], p[1]
        if typ == 'U':
            undefined.add(name)
        elif typ in NM_DEFINED:
            defined.add(name)
    return defined, undefined


def references(tree, objdirs, notes):
    """Returns (defs: {symbol: set(units)}, uses: {unit: set(symbols)}, how)."""
    defs = defaultdict(set)
    uses = defaultdict(set)
    covered = set()          # .c files whose object was read
    objects, stale = [], []
    if objdirs and not shutil.which('nm'):
        notes.append('no nm: source scan instead of objects')
        objdirs = []
    for d in objdirs:
        if not os.path.isdir(d):
            notes.append('objdir %s does not exist' % d)
            continue
        for o in sorted(os.listdir(d)):
            u, cfile = object_unit(tree, o)
            if not o.endswith('.c.o'):
                continue
            if u is None:
                notes.append('object %s has no source in server/ (removed or renamed?): ignored' % o)
                continue
            if cfile in covered:
                continue          # the same source built into another target
            path = os.path.join(d, o)
            if cfile and os.path.getmtime(path) < os.path.getmtime(os.path.join(tree.sdir, cfile)):
                stale.append(cfile)
                continue          # older than its source: the source scan is nearer the truth
            try:
                dset, uset = nm_symbols(path)
            except (subprocess.CalledProcessError, OSError) as e:
                notes.append('nm %s failed (%s): source scan for it' % (o, e))
                continue
            if cfile:
                covered.add(cfile)
            objects.append(o)
            for s in dset:
                defs[s].add(u)
            uses[u] |= uset
    rest = [f for f in tree.c_files() if f not in covered]
    if objects:
        how = 'objects: %d from %s' % (len(objects), ', '.join(objdirs))
        stale = sorted(set(stale) - covered)
        if stale:
            how += '; source scan for %s (object older than the source)' % ', '.join(stale)
        new = [f for f in rest if f not in stale]
        if new:
            how += '; source scan for %s (no object)' % ', '.join(new)
    else:
        how = 'sources: ctags definitions + word scan'
    cdefs = ctags_defs(tree, rest, notes)
    for f, names in cdefs.items():
        for s in names:
            defs[s].add(tree.files[f])
    for f in rest:
        mine = own_names(tree, f) - cdefs[f]
        uses[tree.files[f]] |= words(strip_c(tree.text[f])) - mine
    # Functions defined in headers (static inline): a use from a .c is found
    # by the word scan in both modes, since an inlined call leaves no symbol;
    # what their bodies use counts for the header's unit.
    inl = defaultdict(set)
    for h, fns in header_inlines(tree).items():
        for fn in fns:
            inl[fn['name']].add(tree.files[h])
            uses[tree.files[h]] |= words(fn['body'])
    for f in tree.c_files():
        u = tree.files[f]
        for s in words(strip_c(tree.text[f])) & set(inl):
            if u not in inl[s]:
                uses[u].add(s)
    for s, us in inl.items():
        defs[s] |= us
    return defs, uses, how


# ---------------------------------------------------------------------------
# Graph
# ---------------------------------------------------------------------------

def build_graph(tree, objdirs, notes):
    edges = defaultdict(lambda: {'inc': set(), 'names': set()})
    quoted, system = tree.includes()
    for f, h in quoted:
        a, b = tree.files[f], tree.files[h]
        if a != b:
            edges[(a, b)]['inc'].add('%s: #include "%s"' % (f, h))
    defs, uses, how = references(tree, objdirs, notes)
    for s, us in defs.items():
        if len(us) > 1 and s != 'main':
            notes.append('%s is defined in more than one unit: %s' % (s, ', '.join(sorted(us))))
    for a, syms in uses.items():
        for s in syms:
            us = defs.get(s, ())
            if a in us:
                continue              # a defines it itself
            for b in us:
                edges[(a, b)]['names'].add(s)
    return dict(edges), system, defs, how


def sccs(nodes, adj):
    """Tarjan, iterative. Components as sorted lists."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(adj.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            pushed = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(adj.get(w, ())))))
                    pushed = True
                    break
                elif w in on:
                    low[v] = min(low[v], index[w])
            if pushed:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def shortest_cycles(comp, adj, limit=6):
    """A few short simple cycles through a component, for reading."""
    members = set(comp)
    seen, out = set(), []
    for s in comp:
        prev = {s: None}
        queue = [s]
        found = None
        while queue and found is None:
            nq = []
            for v in queue:
                for w in sorted(adj.get(v, ())):
                    if w not in members:
                        continue
                    if w == s:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nq.append(w)
                if found is not None:
                    break
            queue = nq
        if found is None:
            continue
        path = [found]
        while prev[path[-1]] is not None:
            path.append(prev[path[-1]])
        path.reverse()
        k = path.index(min(path))
        key = tuple(path[k:] + path[:k])
        if key not in seen:
            seen.add(key)
            out.append(list(key))
    out.sort(key=len)
    return out[:limit]


def feedback_edges(comp, adj):
    """Edges of a component that point back up in a greedy ordering (Eades,
    Lin and Smyth): roughly the fewest arrows whose removal breaks its cycles."""
    left = set(comp)
    head, tail = [], []
    while left:
        changed = True
        while changed:
            changed = False
            for v in sorted(left):
                if not any(w in left for w in adj.get(v, ())):      # sink
                    tail.insert(0, v)
                    left.discard(v)
                    changed = True
                elif not any(v in adj.get(u, ()) for u in left):    # source
                    head.append(v)
                    left.discard(v)
                    changed = True
        if left:
            v = max(sorted(left), key=lambda x: sum(w in left for w in adj.get(x, ()))
                    - sum(x in adj.get(u, ()) for u in left))
            head.append(v)
            left.discard(v)
    order = {v: k for k, v in enumerate(head + tail)}
    return sorted((a, b) for a in comp for b in adj.get(a, ())
                  if b in order and order[b] < order[a])


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------

REGISTRY_LIST = re.compile(r'=\s*\{[^;]*?&\s*[A-Za-z_]\w*_feature\s*[,}]')


def registry_units(tree):
    regs = {u for u in REGISTRY if u in tree.units}
    for f in tree.c_files():
        if REGISTRY_LIST.search(strip_c(tree.text[f])):
            regs.add(tree.files[f])
    return regs


def feature_bases(tree, defs, regs):
    bases = set(FEATURES)
    for reg in sorted(f for f in tree.c_files() if tree.files[f] in regs):
        for m in re.finditer(r'&\s*([A-Za-z_]\w*_feature)\b', strip_c(tree.text[reg])):
            sym = m.group(1)
            us = defs.get(sym)
            if us:
                bases |= set(us)
            else:
                bases.add(re.sub(r'^lc_', '', sym)[:-len('_feature')])
    return bases


def feature_of(unit, bases):
    best = None
    for b in bases:
        if unit == b or unit.startswith(b + '_'):
            if best is None or len(b) > len(best):
                best = b
    return best


def select(patterns, units, feats, src=None, bases=(), regs=()):
    chosen = set()
    for p in patterns:
        neg = p.startswith('!')
        q = p[1:] if neg else p
        if q == '@features':
            s = set(feats)
        elif q == '@registry':
            s = set(regs)
        elif q == '@other-features':
            mine = feature_of(src, bases)
            s = {u for u in feats if feature_of(u, bases) != mine}
        else:
            s = {u for u in units if fnmatch.fnmatchcase(u, q)}
        chosen = chosen - s if neg else chosen | s
    return chosen


def check_rules(units, edges, system, tree, defs):
    regs = registry_units(tree)
    bases = feature_bases(tree, defs, regs)
    feats = {u for u in units if feature_of(u, bases)} - regs
    found = []
    for name, who, banned, why in RULES:
        for a in sorted(select(who, units, feats, regs=regs)):
            bad = select(banned, units, feats, src=a, bases=bases, regs=regs)
            for (x, b) in sorted(edges):
                if x == a and b in bad:
                    found.append((name, why, a, b))
    inc_found = []
    for name, pat, allowed, why in INCLUDE_RULES:
        for f, path in sorted(system):
            if fnmatch.fnmatchcase(path, pat) and tree.files[f] not in allowed:
                inc_found.append((name, why, f, path))
    return found, inc_found, feats, regs


# ---------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------

def sizes(tree):
    long_files = []
    for f in sorted(tree.files):
        n = tree.text[f].count('\n')
        if n > MAX_FILE_LINES:
            long_files.append((n, f))
    funcs = []
    for f in tree.c_files():
        for fn in functions(strip_c(tree.text[f])):
            funcs.append((fn['end'] - fn['start'] + 1, f, fn['start'], fn['name']))
    funcs.sort(key=lambda x: (-x[0], x[1], x[2]))
    return sorted(long_files, reverse=True), funcs


# ---------------------------------------------------------------------------

def names_str(names, k=6):
    s = sorted(names)
    more = len(s) - k
    return ', '.join(s[:k]) + (', and %d more' % more if more > 0 else '')


def why_str(e):
    parts = []
    if e['inc']:
        parts.append(', '.join(sorted(e['inc'])))
    if e['names']:
        parts.append('uses ' + names_str(e['names']))
    return '; '.join(parts)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description='Dependency graph, cycles and layering rules of server/.')
    ap.add_argument('--root', default=os.path.dirname(here), help='the repository (default: tools/..)')
    ap.add_argument('--objdir', action='append', default=[],
                    help='a meson object dir such as build/server/livecart-server.p (repeatable); '
                         'without it, calls are found from the sources')
    ap.add_argument('--strict', action='store_true',
                    help='files over %d lines and functions over %d lines fail too'
                         % (MAX_FILE_LINES, MAX_FUNC_LINES))
    ap.add_argument('--why', action='store_true', help='name the includes and symbols behind every edge')
    ap.add_argument('--cross-check', action='store_true',
                    help='also measure from the sources and list the call edges the two ways disagree on')
    ap.add_argument('--dot', metavar='FILE', help='write the unit graph as Graphviz dot')
    args = ap.parse_args()

    root = os.path.abspath(args.root)
    # a relative --objdir: from the current directory, else from --root
    objdirs = [os.path.abspath(d if os.path.isdir(d) else os.path.join(root, d))
               for d in args.objdir]
    tree = Tree(root)
    notes = []
    edges, system, defs, how = build_graph(tree, objdirs, notes)
    units = sorted(tree.units)
    adj = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)

    print('deps: %s, measured from %s' % (os.path.join(root, 'server'), how))
    for n in notes:
        print('  note: ' + n)

    print('\nGRAPH (unit -> what it depends on; i = include, c = call/address):')
    for u in units:
        outs = []
        for b in sorted(adj.get(u, ())):
            e = edges[(u, b)]
            outs.append('%s(%s%s)' % (b, 'i' if e['inc'] else '', 'c' if e['names'] else ''))
        print('  %-14s -> %s' % (u + ' [' + ' '.join(sorted(tree.units[u], key=lambda f: (f[-1], f))) + ']',
                                 ' '.join(outs) if outs else '-'))
        if args.why:
            for b in sorted(adj.get(u, ())):
                print('  %16s %s: %s' % ('', b, why_str(edges[(u, b)])))

    comps = [c for c in sccs(units, adj) if len(c) > 1]
    comps.sort(key=lambda c: (-len(c), c))
    print('\nCYCLES (strongly connected components of more than one unit): %d' % len(comps))
    for k, comp in enumerate(comps, 1):
        inner = sorted((a, b) for (a, b) in edges if a in comp and b in comp)
        fb = feedback_edges(comp, adj)
        print('  cycle %d: %d units, %d edges among them: %s' % (k, len(comp), len(inner), ' '.join(comp)))
        for cyc in shortest_cycles(comp, adj):
            print('    e.g. ' + ' -> '.join(cyc + [cyc[0]]))
        for a, b in inner:
            print('    %s -> %s: %s' % (a, b, why_str(edges[(a, b)])))
        print('    %d edge(s) point back up (greedy feedback set; removing them breaks this cycle): %s'
              % (len(fb), ', '.join('%s -> %s' % e for e in fb)))

    viol, inc_viol, feats, regs = check_rules(units, edges, system, tree, defs)
    print('\nRULES (features: %s; registry: %s):' % (' '.join(sorted(feats)) or '-',
                                                   ' '.join(sorted(regs)) or '-'))
    for name, who, banned, why in RULES:
        print('  %-16s %s must not depend on %s -- %s' % (name, ','.join(who), ','.join(banned), why))
    for name, pat, allowed, why in INCLUDE_RULES:
        print('  %-16s only %s may include <%s> -- %s' % (name, ','.join(allowed), pat, why))
    print('\nVIOLATIONS: %d' % (len(viol) + len(inc_viol)))
    for name, why, a, b in viol:
        print('  %s: %s -> %s (%s)' % (name, a, b, why_str(edges[(a, b)])))
    for name, why, f, path in inc_viol:
        print('  %s: server/%s includes <%s>' % (name, f, path))

    long_files, funcs = sizes(tree)
    long_funcs = [x for x in funcs if x[0] > MAX_FUNC_LINES]
    print('\nSIZES (limits: %d lines a file, %d lines a function)%s:'
          % (MAX_FILE_LINES, MAX_FUNC_LINES, ' -- strict' if args.strict else ' -- warnings'))
    for n, f in long_files:
        print('  file over %d: server/%s %d lines' % (MAX_FILE_LINES, f, n))
    for n, f, line, name in long_funcs:
        print('  function over %d: server/%s:%d %s() %d lines' % (MAX_FUNC_LINES, f, line, name, n))
    print('  longest functions: ' + ', '.join('%s() %s:%d %d' % (name, f, line, n)
                                               for n, f, line, name in funcs[:5]))

    if args.cross_check:
        n2 = []
        e2, _, _, how2 = build_graph(tree, [], n2)
        calls1 = {k for k, v in edges.items() if v['names']}
        calls2 = {k for k, v in e2.items() if v['names']}
        print('\nCROSS-CHECK: call edges of (%s) vs (%s)' % (how, how2))
        for a, b in sorted(calls1 - calls2):
            print('  only first : %s -> %s: %s' % (a, b, names_str(edges[(a, b)]['names'])))
        for a, b in sorted(calls2 - calls1):
            print('  only second: %s -> %s: %s' % (a, b, names_str(e2[(a, b)]['names'])))
        print('  %d call edges agree' % len(calls1 & calls2))

    if args.dot:
        with open(args.dot, 'w') as fh:
            fh.write('digraph server {\n  rankdir=BT;\n')
            incyc = {u for c in comps for u in c}
            for u in units:
                fh.write('  "%s"%s;\n' % (u, ' [color=red]' if u in incyc else ''))
            for a, b in sorted(edges):
                same = any(a in c and b in c for c in comps)
                fh.write('  "%s" -> "%s"%s;\n' % (a, b, ' [color=red]' if same else ''))
            fh.write('}\n')

    nviol = len(viol) + len(inc_viol)
    size_fail = len(long_files) + len(long_funcs)
    if args.strict:
        nviol += size_fail
    elif size_fail:
        print('deps: %d over the size limits (warnings; --strict fails on them)' % size_fail)
    print('deps: %d units, %d edges, %d cycles, %d violations' % (len(units), len(edges), len(comps), nviol))
    return 1 if comps or nviol else 0


if __name__ == '__main__':
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # quiet under `| head`
    sys.exit(main())
