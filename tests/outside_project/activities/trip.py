"""The trip planner's tools: the weather, and a booking a person approves first."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity


class City(BaseModel):
    city: str


class Table(BaseModel):
    restaurant: str
    people: int


@activity.defn
async def get_weather(args: City) -> str:
    """Today's weather in a city."""
    return f"{args.city}: 21 °C, dry"


@activity.defn
async def book_table(args: Table) -> str:
    """Book a table at a restaurant."""
    return f"Booked {args.restaurant} for {args.people}."
