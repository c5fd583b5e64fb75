"""REST API of the outcome forms: responses, adverse events, VOD/SOS, follow-up & outcome."""

from outcomes.models import AdverseEvent, FollowUp, ResponseAssessment, VodSosEvent
from patients.api import crf_viewset

ResponseViewSet = crf_viewset(ResponseAssessment, repeating=True)
AdverseEventViewSet = crf_viewset(AdverseEvent, repeating=True)
VodSosViewSet = crf_viewset(VodSosEvent, repeating=True)
FollowUpViewSet = crf_viewset(FollowUp, repeating=False)
