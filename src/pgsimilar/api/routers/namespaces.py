"""``/v1/namespaces``: list (what the key may see), create and drop (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ..deps import AdminDep, CallerDep, ClientDep, ReadNamespace, run_blocking
from ..schemas import NamespaceCreate, NamespaceList, NamespacePublic

router = APIRouter(prefix="/v1/namespaces", tags=["namespaces"])


@router.get("", response_model=NamespaceList)
async def list_namespaces(request: Request, client: ClientDep, caller: CallerDep) -> NamespaceList:
    names = await run_blocking(request, client.list_namespaces)
    visible = [NamespacePublic(name=name) for name in names if caller is None or caller.can_read(name)]
    return NamespaceList(data=visible, count=len(visible))


@router.post("", response_model=NamespacePublic, status_code=201, dependencies=[AdminDep])
async def create_namespace(request: Request, body: NamespaceCreate, client: ClientDep) -> NamespacePublic:
    await run_blocking(request, client.create_namespace, body.name)
    return NamespacePublic(name=body.name)


@router.delete("/{ns}", status_code=204, dependencies=[AdminDep])
async def drop_namespace(
    request: Request,
    ns: ReadNamespace,
    client: ClientDep,
    cascade: Annotated[bool, Query(description="Drop its collections too")] = False,
) -> Response:
    await run_blocking(request, client.drop_namespace, ns, cascade=cascade)
    return Response(status_code=204)
