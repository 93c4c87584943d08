// The standard fetch() of a JavaScript component: componentize-js sends it
// through wasi:http/outgoing-handler (tests/host/wasi2_http_test.cpp).
export async function get(url, body) {
  try {
    const init = body === '' ? {} : { method: 'POST', body, headers: { 'X-From': 'js' } };
    const response = await fetch(url, init);
    return `status ${response.status} ${response.headers.get('x-test')}\n${await response.text()}`;
  } catch (e) {
    return `error ${e}`;
  }
}
