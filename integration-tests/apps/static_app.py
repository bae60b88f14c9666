# The app behind the static-file tests: it names itself, so a response from it proves a
# request fell through to the app.
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    body = "app:" + environ["REQUEST_METHOD"] + " " + environ["PATH_INFO"]
    return [body.encode("utf-8", "surrogateescape")]
