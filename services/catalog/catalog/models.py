"""Tables of the catalog database (the video record arrives with the video pipeline)."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
