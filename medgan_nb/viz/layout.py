"""Layout helpers every figure of the kit ends with: :func:`finish` lays a Figure out tightly while
leaving room for its suptitle, and :func:`finish_log_axes` labels a log-scale axis the kit's way. The
experiment modules call them too, so their figures look like these.
"""
from __future__ import annotations


def finish(fig):
    """Lay ``fig`` out tightly and leave room above the axes for its suptitle; return the Figure.

    ``tight_layout`` alone ignores a suptitle, which then overlaps the top row's titles; the room left is
    the suptitle's own height (its lines at its font size) plus a small gap.
    """
    top = 1.0
    title = getattr(fig, "_suptitle", None)  # matplotlib's suptitle Text (no public getter of the Text itself)
    if title is not None and title.get_text():
        needed = (title.get_text().count("\n") + 1) * title.get_fontsize() * 1.35 / 72 + 0.12  # inches
        top = max(0.5, 1 - needed / fig.get_figheight())
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def finish_log_axes(ax, xlabel: str, ylabel: str, title: str):
    """Label a log-scale axis the kit's way (labels, title, grid on major and minor ticks, small legend); return its Figure laid out."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure
