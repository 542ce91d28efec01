"""The ctypes declarations (bgfetch._bindings.DECLARATIONS) against include/bgfetch.h: every
function of the header is declared, nothing else is, and each declared function has the
header's return type and argument types, one by one. The callback types too. A change of
the C ABI that the Python package does not follow fails here."""

import ctypes
import os
import re
import unittest

from bgfetch import _bindings as B

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                      "include", "bgfetch.h")

# C scalar types (typedefs of the header included) -> ctypes.
SCALARS = {
    "void": None,
    "bool": ctypes.c_bool,
    "int": ctypes.c_int,
    "size_t": ctypes.c_size_t,
    "uint8_t": ctypes.c_uint8,
    "uint16_t": ctypes.c_uint16,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "int64_t": ctypes.c_int64,
}


def read_header():
    with open(HEADER) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)   # block comments
    text = re.sub(r"//[^\n]*", " ", text)                  # line comments
    text = re.sub(r"^\s*#[^\n]*", " ", text, flags=re.M)   # preprocessor lines
    text = re.sub(r"\bBGFETCH_NODISCARD\b", " ", text)     # an attribute, not a type
    return text


def integer_typedefs(text):
    """typedef uint32_t bgfetch_status; ... -> {"bgfetch_status": "uint32_t"}"""
    return dict((m.group(2), m.group(1))
                for m in re.finditer(r"typedef\s+(\w+)\s+(bgfetch_\w+)\s*;", text))


def callback_typedefs(text):
    """typedef R (*name)(params); -> {name: (R, [params])}"""
    out = {}
    for m in re.finditer(r"typedef\s+([\w\s\*]+?)\s*\(\s*\*\s*(bgfetch_\w+)\s*\)\s*\(([^)]*)\)\s*;",
                         text):
        out[m.group(2)] = (m.group(1), split_params(m.group(3)))
    return out


def prototypes(text):
    """R name(params); at file level -> {name: (R, [params])}"""
    out = {}
    text = re.sub(r'extern\s+"C"\s*\{|\}', ";", text)
    for stmt in text.split(";"):
        stmt = " ".join(stmt.split())
        m = re.match(r"^([A-Za-z_][\w\s\*]*?)\s*\b(bgfetch_\w+)\s*\(([^()]*)\)$", stmt)
        if m is None or stmt.startswith("typedef"):
            continue
        out[m.group(2)] = (m.group(1).strip(), split_params(m.group(3)))
    return out


def split_params(params):
    params = " ".join(params.split())
    if params in ("", "void"):
        return []
    return [p.strip() for p in params.split(",")]


def strip_name(param):
    """'const bgfetch_request *const *requests' -> 'const bgfetch_request *const *'"""
    m = re.match(r"^(.*?[\s\*])(\w+)$", param)
    if m and m.group(2) not in SCALARS and not m.group(2).startswith("bgfetch_"):
        return m.group(1).strip()
    return param.strip()


class Mapper:
    def __init__(self, text):
        self.ints = integer_typedefs(text)
        self.callbacks = {name: B.CALLBACKS.get(name) for name in callback_typedefs(text)}

    def ctype(self, c_type, is_return=False):
        """The ctypes type the binding must use for the C type ``c_type``."""
        t = " ".join(c_type.replace("*", " * ").split())
        stars = t.count("*")
        base = " ".join(w for w in t.split() if w not in ("const", "*"))
        if base in self.ints:
            base = self.ints[base]
        if stars == 0:
            if base in self.callbacks:
                return self.callbacks[base]
            if base in SCALARS:
                return SCALARS[base]
            raise KeyError("unknown C type %r" % c_type)
        if base == "char" and stars == 1:
            # const char * is a string; char * is an owned string (freed by the caller, so
            # kept as a pointer) or the argument of bgfetch_string_free.
            return ctypes.c_char_p if t.startswith("const") else ctypes.c_void_p
        if base == "void" and stars == 1:
            return ctypes.c_void_p
        if base == "char":
            inner = ctypes.c_char_p
            stars -= 1
        elif base in B.OPAQUE:
            inner = B.OPAQUE[base]
        elif base in SCALARS and SCALARS[base] is not None:
            inner = SCALARS[base]
        else:
            raise KeyError("unknown C type %r" % c_type)
        for _ in range(stars):
            inner = ctypes.POINTER(inner)
        return inner


def name_of(t):
    return "void" if t is None else getattr(t, "__name__", repr(t))


class HeaderCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(HEADER):
            raise unittest.SkipTest("include/bgfetch.h not found at %s" % HEADER)
        cls.text = read_header()
        cls.protos = prototypes(cls.text)
        cls.mapper = Mapper(cls.text)
        cls.declared = {name: (ret, args) for name, ret, args in B.DECLARATIONS}

    def test_the_parser_sees_the_whole_header(self):
        # A sanity check of the regular expressions: the header has ~100 functions, and a
        # few well-known ones with their exact shapes.
        self.assertGreater(len(self.protos), 90)
        self.assertEqual(self.protos["bgfetch_version"], ("const char *", []))
        self.assertEqual(self.protos["bgfetch_fetch"][1][2],
                         "const bgfetch_request *const *requests")
        self.assertEqual(len(self.protos["bgfetch_icons_get"][1]), 6)

    def test_every_header_function_is_declared(self):
        missing = sorted(set(self.protos) - set(self.declared))
        self.assertEqual(missing, [], "functions of include/bgfetch.h without a ctypes "
                                      "declaration in bgfetch/_bindings.py")

    def test_every_declaration_is_in_the_header(self):
        extra = sorted(set(self.declared) - set(self.protos))
        self.assertEqual(extra, [], "declared in bgfetch/_bindings.py but not in the header")

    def test_each_declaration_has_the_headers_types(self):
        problems = []
        for name, (c_ret, c_params) in sorted(self.protos.items()):
            if name not in self.declared:
                continue
            ret, args = self.declared[name]
            want_ret = self.mapper.ctype(c_ret, is_return=True)
            if ret is not want_ret:
                problems.append("%s returns %s (C: %s), declared %s"
                                % (name, name_of(want_ret), c_ret, name_of(ret)))
            if len(args) != len(c_params):
                problems.append("%s takes %d arguments (C: %s), declared %d"
                                % (name, len(c_params), ", ".join(c_params), len(args)))
                continue
            for i, (p, a) in enumerate(zip(c_params, args)):
                want = self.mapper.ctype(strip_name(p))
                if a is not want:
                    problems.append("%s argument %d (%s) is %s, declared %s"
                                    % (name, i + 1, p, name_of(want), name_of(a)))
        self.assertEqual(problems, [])

    def test_callback_types_match_their_typedefs(self):
        for name, (c_ret, c_params) in callback_typedefs(self.text).items():
            with self.subTest(callback=name):
                self.assertIn(name, B.CALLBACKS, "a callback typedef the binding lacks")
                cb = B.CALLBACKS[name]
                self.assertIs(cb._restype_, self.mapper.ctype(c_ret, is_return=True))
                want = [self.mapper.ctype(strip_name(p)) for p in c_params]
                self.assertEqual([name_of(t) for t in cb._argtypes_],
                                 [name_of(t) for t in want])
                for got, exp in zip(cb._argtypes_, want):
                    self.assertIs(got, exp)

    def test_the_loaded_functions_carry_the_declarations(self):
        for name, ret, args in B.DECLARATIONS:
            with self.subTest(function=name):
                f = getattr(B.c, name[len("bgfetch_"):])
                self.assertEqual(list(f.argtypes), list(args))
                self.assertIs(f.restype, ret)

    def test_constants_match_the_header(self):
        with open(HEADER) as f:
            raw = f.read()
        defines = dict((m.group(1), int(m.group(2)))
                       for m in re.finditer(r"#define\s+(BGFETCH_\w+)\s+(\d+)", raw))
        self.assertEqual(B.QUERY_IGNORE_SEARCH, defines["BGFETCH_QUERY_IGNORE_SEARCH"])
        self.assertEqual(B.QUERY_IGNORE_METHOD, defines["BGFETCH_QUERY_IGNORE_METHOD"])
        self.assertEqual(B.QUERY_IGNORE_VARY, defines["BGFETCH_QUERY_IGNORE_VARY"])
        self.assertEqual(B.DISPATCH, {"thread": defines["BGFETCH_DISPATCH_THREAD"],
                                      "manual": defines["BGFETCH_DISPATCH_MANUAL"]})
        self.assertEqual(B.EVENT_KINDS, {defines["BGFETCH_EVENT_SUCCESS"]: "success",
                                         defines["BGFETCH_EVENT_FAIL"]: "fail",
                                         defines["BGFETCH_EVENT_ABORT"]: "abort"})
        self.assertEqual(B.RESULT_NONE, defines["BGFETCH_RESULT_NONE"])
        import bgfetch
        # Every error status of the header has its exception class, and no class has a code
        # the header lacks (a status added to the C ABI fails here until Python knows it).
        header_errors = {v for k, v in defines.items() if k.startswith("BGFETCH_E_")}
        self.assertEqual(set(bgfetch.errors.BY_STATUS), header_errors)
        for cls in bgfetch.errors.BY_STATUS.values():
            c_name = bgfetch.status_name(cls.status)
            self.assertEqual(defines[c_name], cls.status, c_name)
        version = "%d.%d.%d" % (defines["BGFETCH_VERSION_MAJOR"],
                                defines["BGFETCH_VERSION_MINOR"],
                                defines["BGFETCH_VERSION_PATCH"])
        self.assertEqual(bgfetch.__version__, version)


if __name__ == "__main__":
    unittest.main()
