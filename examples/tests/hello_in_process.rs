//! The hello app in process (`percore::testing::TestClient`: no socket, no
//! io_uring), against the same contract as the binary's test.

use percore::testing::TestClient;
use percore_examples::hello::app;

#[test]
fn hello_answers_in_process() {
    let mut c = TestClient::new(app());
    for path in ["/plaintext", "/async/plaintext"] {
        let r = c.get(path);
        assert_eq!(
            (r.status.as_u16(), r.text().as_str()),
            (200, "Hello, World!"),
            "{path}"
        );
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert!(r.header("server").is_some() && r.header("date").is_some());
    }
    for path in ["/json", "/json/typed"] {
        let r = c.get(path);
        assert_eq!(r.text(), r#"{"message":"Hello, World!"}"#, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let r = c.post("/echo", "text/x-mine", "some bytes");
    assert_eq!(
        (r.text().as_str(), r.header("content-type")),
        ("some bytes", Some("text/x-mine"))
    );
    let r = c.raw(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(r.text(), "abc");
    assert_eq!(c.get("/nope").status.as_u16(), 404);
}
