"""The TUI's screens: launcher, setup progress, splash, dashboard and what opens from it."""

from __future__ import annotations

from launcher.tui.screens.dashboard import DashboardScreen
from launcher.tui.screens.dead_letters import DeadLettersScreen
from launcher.tui.screens.fleet import QueuesScreen, WorkersScreen
from launcher.tui.screens.help import HelpScreen
from launcher.tui.screens.job_detail import JobDetailScreen
from launcher.tui.screens.launcher import LauncherScreen
from launcher.tui.screens.new_task import NewTaskScreen
from launcher.tui.screens.schedules import SchedulesScreen
from launcher.tui.screens.setup import SetupScreen
from launcher.tui.screens.splash import SplashScreen

__all__ = [
    "DashboardScreen",
    "DeadLettersScreen",
    "HelpScreen",
    "JobDetailScreen",
    "LauncherScreen",
    "NewTaskScreen",
    "QueuesScreen",
    "SchedulesScreen",
    "SetupScreen",
    "SplashScreen",
    "WorkersScreen",
]
