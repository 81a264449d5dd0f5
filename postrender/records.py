"""Value classes without ``dataclasses`` (issue 16: start-up cost).

postrender runs once per Helm render, so what it imports is paid every time: ``dataclasses``
pulls in ``inspect``, ``ast``, ``dis`` and ``tokenize`` and then ``exec``s generated code for
every class (about 10 ms for the run path's classes).  A class here writes its ``__init__`` by
hand and names its fields in ``_fields``; this base gives it what ``@dataclass`` gave:
equality by fields (only with an instance of the very same class), a readable ``repr``, and
for the classes that were ``frozen=True`` (``FrozenRecord``) a hash of the fields, so they
still work as dict keys, set members and ``functools`` cache arguments, and an AttributeError
for a field set a second time.
"""


class Record:
    __slots__ = ()
    _fields: tuple = ()        # the dataclass fields, in order: equality and repr
    _repr_fields: tuple | None = None  # when repr shows fewer (``field(repr=False)``)

    def _values(self) -> tuple:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    # Like a non-frozen dataclass with eq: equal by value, so not hashable.
    __hash__ = None

    def __repr__(self) -> str:
        names = self._fields if self._repr_fields is None else self._repr_fields
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"


class FrozenRecord(Record):
    """A record that is a value: hashable, and its fields are set once (by ``__init__``)."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value) -> None:
        if hasattr(self, name):
            raise AttributeError(f"cannot assign to field {name!r} of a {self.__class__.__name__}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a {self.__class__.__name__}")
