# ruwsgi --http 127.0.0.1:8000 --home target/venv --chdir2 examples/django/mysite --module mysite.wsgi
"""The project's one view, plus a form posted with Django's CSRF protection."""
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.views.decorators.http import require_http_methods


def hello(request):
    return HttpResponse("Hello from Django, %d\n" % sum(range(10)), content_type="text/plain")


@require_http_methods(["GET", "POST"])
def form(request):
    if request.method == "POST":
        return HttpResponse("posted: %s\n" % request.POST.get("name", ""), content_type="text/plain")
    token = get_token(request)
    page = (
        '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="%s">'
        '<input name="name"><button>send</button></form>' % token
    )
    return HttpResponse(page)
