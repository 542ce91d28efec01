"""The package documents itself: every public name of ``bgfetch`` has a docstring (what
``help()`` shows), and ``help()`` shows no constructor for the classes users never construct.

Public names: ``bgfetch.__all__``; of its classes, every attribute not starting with ``_`` that
the package defines (methods, properties, class and static methods; not plain data such as
``Error.status``, and not what a class inherits from the standard library). A docstring an
override inherits from the package's base class counts, as it does for ``help()``.
"""

import inspect
import pydoc
import types
import unittest

import bgfetch


def _doc_of(obj):
    doc = inspect.getdoc(obj)
    return doc.strip() if doc else ""


def _defining_class(cls, name):
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def undocumented(module):
    """The public names of ``module`` (its ``__all__``) without a docstring, as
    ``"Class.attribute"`` or ``"function"``."""
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            if not (vars(obj).get("__doc__") or "").strip():
                missing.append(name)
            for attr in dir(obj):
                if attr.startswith("_"):
                    continue
                owner = _defining_class(obj, attr)
                if owner is None or not owner.__module__.startswith(module.__name__):
                    continue  # inherited from the standard library
                raw = vars(owner)[attr]
                if isinstance(raw, (staticmethod, classmethod)):
                    target = raw.__func__
                elif isinstance(raw, property) or inspect.isfunction(raw):
                    target = getattr(obj, attr) if isinstance(raw, property) else raw
                else:
                    continue  # data: a constant, an annotation
                if not _doc_of(target):
                    missing.append("%s.%s" % (name, attr))
        elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
            if not _doc_of(obj):
                missing.append(name)
    return missing


class Docstrings(unittest.TestCase):
    def test_every_public_name_has_a_docstring(self):
        self.assertEqual(undocumented(bgfetch), [])

    def test_the_check_finds_a_missing_docstring(self):
        # The check itself, on a module with one documented and four undocumented names.
        mod = types.ModuleType(bgfetch.__name__ + "._doc_check_example")

        class Documented:
            """Documented."""

            def method(self):
                """Documented."""

            @property
            def prop(self):
                """Documented."""

        class Bare:
            def method(self):
                pass

            @property
            def prop(self):
                return 1

            @staticmethod
            def static():
                pass

        def function():
            pass

        for f in (Documented, Bare, function):
            f.__module__ = mod.__name__
            setattr(mod, f.__name__, f)
        mod.__all__ = ["Documented", "Bare", "function"]
        self.assertEqual(undocumented(mod),
                         ["Bare", "Bare.method", "Bare.prop", "Bare.static", "function"])

    def test_help_shows_no_constructor_for_objects_the_library_hands_out(self):
        for cls, source in ((bgfetch.Registration, "Manager.fetch"),
                            (bgfetch.Record, "Registration.match"),
                            (bgfetch.Response, "Record.response_ready")):
            text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
            head = text.split("Method resolution order")[0]
            self.assertNotIn(" |  %s(" % cls.__name__, head, head)
            self.assertIn(source, head, head)
            with self.assertRaises(TypeError) as cm:
                cls()
            self.assertIn(source, str(cm.exception))


if __name__ == "__main__":
    unittest.main()
