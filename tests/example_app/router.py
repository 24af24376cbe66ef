from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket
from pydantic import BaseModel, ConfigDict, Field

from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.pagination import Limit, Offset
from tests.example_app import service
from tests.example_app.settings import ExampleSettings

router = APIRouter(prefix="/example", tags=["example"])
public_router = APIRouter(prefix="/example", tags=["example"])

Topic = Annotated[str, Field(min_length=1, max_length=100)]


class NoteCreate(BaseModel):
    text: str = Field(min_length=1, max_length=200)


class NotePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    created_at: dt.datetime


class NoteList(BaseModel):
    items: list[NotePublic]
    total: int
    limit: int
    offset: int


class PublishRequest(BaseModel):
    topic: Topic
    message: dict[str, Any]


class Published(BaseModel):
    topic: str


class Greeting(BaseModel):
    greeting: str


def hub_topic(topic: str) -> str:
    # The example app's sockets only ever see the example app's topics.
    return f"example:{topic}"


@router.post("/notes", status_code=201)
async def create_note(data: NoteCreate, session: SessionDep) -> NotePublic:
    return NotePublic.model_validate(await service.create(session=session, text=data.text))


@router.get("/notes")
async def list_notes(
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> NoteList:
    notes, total = await service.list_notes(session=session, limit=limit, offset=offset)
    items = [NotePublic.model_validate(n) for n in notes]
    return NoteList(items=items, total=total, limit=limit, offset=offset)


@router.get("/greeting")
async def greeting(settings: SettingsDep) -> Greeting:
    return Greeting(greeting=settings.app(ExampleSettings).greeting)


@router.post("/publish", status_code=202)
async def publish(data: PublishRequest, infra: InfraDep) -> Published:
    await infra.hub.publish(hub_topic(data.topic), data.message)
    return Published(topic=data.topic)


@public_router.websocket("/ws")
async def forward(websocket: WebSocket, topic: Annotated[str, Query(min_length=1, max_length=100)]) -> None:
    """Sends ``{"type": "subscribed"}`` once listening, then every message published on ``topic``."""
    await websocket.accept()
    async with websocket.app.state.infra.hub.subscribe(hub_topic(topic)) as sub:
        await websocket.send_json({"type": "subscribed", "topic": topic})

        async def send_all() -> None:
            async for message in sub:
                await websocket.send_json(message)

        async def until_disconnect() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass

        tasks = [asyncio.create_task(send_all()), asyncio.create_task(until_disconnect())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
