"""Base class of data sources that wrap another source."""

from tfmtl.data.data_source import DataSource


class WrappedSource(DataSource):
    """A source that changes some splits of `self.source` and passes the
    rest through.

    Subclasses set `self.source` in their constructor. Attributes the
    wrapper does not define (class counts, class names, paths, encodings,
    planted groups...) and the task kinds are the wrapped source's, so a
    wrapper can stand wherever its source is expected.

    Example:

    ```python
    class Doubled(WrappedSource):
        def __init__(self, source):
            self.source = source

        def num_examples(self, split):
            return 2 * self.source.num_examples(split)

        def example(self, index, split):
            return self.source.example(index // 2, split)
    ```
    """

    def __getattr__(self, name):
        # Only reached for attributes the wrapper lacks; "source" itself
        # must not recurse before the constructor has set it.
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)

    @property
    def task_kinds(self):
        return self.source.task_kinds
