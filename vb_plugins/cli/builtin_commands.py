"""``vb_commands`` for the command modules that do not register themselves yet.

``codec_commands.register`` adds ``tasks``, ``schemes``, ``dialects``, ``encode``, ``decode`` and ``prompt``
at once, so the group is registered under the first of them. (Branch i24-core owns those two modules; at
the merge each gets its own ``vb_commands`` hook and this module goes.)
"""

from vb_plugins.cli import codec_commands, predict_command
from vb_plugins.cli.command import Command
from vb_plugins.hookspecs import hookimpl


@hookimpl
def vb_commands():
    return [Command("tasks", codec_commands.register), Command("predict", predict_command.register)]
