"""Which centers a user may see: the root of every access rule in the system."""

from django.db.models import QuerySet

from sites.models import Center
from sites.roles import sees_all_centers, user_roles


def center_list_for_user(*, user) -> QuerySet[Center]:
    if not user_roles(user):
        return Center.objects.none()
    if sees_all_centers(user):
        return Center.objects.all()
    return Center.objects.filter(members=user)


def center_ids_for_user(*, user) -> QuerySet:
    return center_list_for_user(user=user).values("pk")
