-- wrk script of the `headers` workload of `just bench`: a GET carrying the header set a
-- desktop browser sends for a page of a site it has visited (12 headers besides Host,
-- a session and analytics cookie among them).
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
wrk.headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
wrk.headers["Accept-Language"] = "en-GB,en-US;q=0.9,en;q=0.8,fr;q=0.7"
wrk.headers["Accept-Encoding"] = "gzip, deflate, br, zstd"
wrk.headers["Referer"] = "http://127.0.0.1/articles/?page=2"
wrk.headers["Connection"] = "keep-alive"
wrk.headers["Upgrade-Insecure-Requests"] = "1"
wrk.headers["Sec-Fetch-Dest"] = "document"
wrk.headers["Sec-Fetch-Mode"] = "navigate"
wrk.headers["Sec-Fetch-Site"] = "same-origin"
wrk.headers["Sec-Fetch-User"] = "?1"
wrk.headers["Cookie"] = "sessionid=8f3kq2m9x7v1c4b6n0z5l2j8h3g7f1d9; csrftoken=Zq8vN2mX4kL7pR1sT9wY3uE6iO0aB5cD8fG2hJ4kL6zX; _ga=GA1.1.1234567890.1717171717; _ga_ABC123=GS1.1.1717171717.3.1.1717171800.0.0.0; theme=dark"
