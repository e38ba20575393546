"""Who is on duty: China's working calendar, the weekly roster with date overrides, and routing.

``calendar`` knows which days are working days (public holidays and 调休 from the maintained
``chinesecalendar`` package); ``roster`` keeps the rotations and overrides in the database and
answers "who is on call now" and "who is this hospital's engineer of the day".
"""

from bot.duty.calendar import DayInfo, DayKind, WorkCalendar
from bot.duty.models import Post
from bot.duty.roster import DutyNow, Roster, RosterError, Routing
from bot.duty.settings import DutySettings

__all__ = [
    "DayInfo",
    "DayKind",
    "DutyNow",
    "DutySettings",
    "Post",
    "Roster",
    "RosterError",
    "Routing",
    "WorkCalendar",
]
