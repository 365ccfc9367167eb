"""Message catalogues: every label and explanation in English and Chinese.

Messages are ``str.format`` templates keyed by id. A test checks that both
languages have every key and the same placeholders. The Chinese follows the
terms of the learner's notes: 三次握手, 四次挥手, 序号 Seq, 确认号 Ack,
初始序列号 ISN.
"""

from __future__ import annotations

import locale
import os
import string

LANGS = ("en", "zh")

CATALOG: dict[str, dict[str, str]] = {
    # step labels
    "hs_syn": {"en": "handshake 1/3: SYN", "zh": "第一次握手: SYN"},
    "hs_synack": {"en": "handshake 2/3: SYN+ACK", "zh": "第二次握手: SYN+ACK"},
    "hs_ack": {"en": "handshake 3/3: ACK", "zh": "第三次握手: ACK"},
    "hs_syn_retx": {"en": "SYN again (retransmission)", "zh": "重传的 SYN"},
    "hs_synack_retx": {"en": "SYN+ACK again (retransmission)", "zh": "重传的 SYN+ACK"},
    "hs_sim_syn": {"en": "simultaneous open: SYN", "zh": "同时打开: SYN"},
    "close4": {"en": "close {i}/4: {what}", "zh": "第{i_zh}次挥手: {what}"},
    "close3": {"en": "close {i}/3: {what}", "zh": "挥手 {i}/3: {what}"},
    "close_sim": {"en": "simultaneous close: {what}", "zh": "同时关闭: {what}"},
    "close_fin": {"en": "FIN", "zh": "FIN"},
    "data": {"en": "data", "zh": "数据"},
    "ack": {"en": "ACK", "zh": "ACK"},
    "rst": {"en": "reset: RST", "zh": "重置: RST"},
    "segment": {"en": "segment", "zh": "报文段"},
    # notes
    "n_syn": {
        "en": "SYN(Seq=x): the client picks a random initial sequence number x "
              "(ISN {isn} on the wire, shown as relative 0). Ack=0: nothing to acknowledge yet.",
        "zh": "SYN(Seq=x): 客户端随机选一个初始序列号 ISN x (线上的值是 {isn}, 相对值记为 0)。"
              "Ack=0: 还没有要确认的数据。",
    },
    "n_synack": {
        "en": "SYN+ACK(Seq=y, Ack=x+1): the server picks its own random ISN y ({isn}) and "
              "acknowledges the SYN: x+1 = {ack}, because a SYN counts as one byte.",
        "zh": "SYN+ACK(Seq=y, Ack=x+1): 服务器选自己的随机 ISN y ({isn}), 并确认 SYN: "
              "x+1 = {ack}, 因为 SYN 占一个序号。",
    },
    "n_ack": {
        "en": "ACK(Seq=x+1, Ack=y+1): Seq = {seq}, Ack = {ack}: the client acknowledges the "
              "server's SYN. Both sides now know each other's ISN: the connection is established.",
        "zh": "ACK(Seq=x+1, Ack=y+1): Seq = {seq}, Ack = {ack}: 客户端确认服务器的 SYN。"
              "双方都知道了对方的 ISN, 连接建立。",
    },
    "n_data": {
        "en": "{len} bytes of data, bytes {seq}..{end} of this direction's stream; "
              "the next segment will start at Seq={nxt}.",
        "zh": "{len} 字节数据, 本方向字节流的第 {seq}..{end} 字节; 下一个报文段从 Seq={nxt} 开始。",
    },
    "n_ack_data": {
        "en": "Ack={ack}: everything before byte {ack} has arrived; "
              "the next byte expected is {ack}.",
        "zh": "Ack={ack}: 第 {ack} 字节之前的数据都已收到, 期望的下一个字节是 {ack}。",
    },
    "n_fin1": {
        "en": "FIN(Seq=u): the {who} has no more data to send (u = {seq}). "
              "A FIN, like a SYN, takes one sequence number.",
        "zh": "FIN(Seq=u): {who}没有数据要发了 (u = {seq})。FIN 和 SYN 一样占一个序号。",
    },
    "n_fin_ack": {
        "en": "ACK(Ack=u+1): the {who} acknowledges the FIN: {ack} = u+1. "
              "It may still send data (half-close).",
        "zh": "ACK(Ack=u+1): {who}确认 FIN: {ack} = u+1。它仍可以继续发送数据 (半关闭)。",
    },
    "n_fin2": {
        "en": "FIN(Seq=w): the {who} closes its direction too (w = {seq}).",
        "zh": "FIN(Seq=w): {who}也关闭自己的方向 (w = {seq})。",
    },
    "n_fin2_ack": {
        "en": "FIN+ACK(Seq=w, Ack=u+1): the {who} acknowledges the FIN and closes its own "
              "direction in one segment (w = {seq}, Ack = {ack}).",
        "zh": "FIN+ACK(Seq=w, Ack=u+1): {who}在一个报文段里确认 FIN 并关闭自己的方向 "
              "(w = {seq}, Ack = {ack})。",
    },
    "n_sim_fin": {
        "en": "FIN(Seq=w): the {who} closes at the same moment (w = {seq}). Its Ack={ack} "
              "does not cover the other FIN: it left before that FIN arrived. The FINs "
              "crossed: both sides go FIN_WAIT_1 -> CLOSING (a simultaneous close).",
        "zh": "FIN(Seq=w): {who}在同一时刻关闭 (w = {seq})。它的 Ack={ack} 没有覆盖对方的 "
              "FIN: 它在对方的 FIN 到达之前就发出了。两个 FIN 交叉: 双方都从 FIN_WAIT_1 "
              "进入 CLOSING (同时关闭)。",
    },
    "n_sim_ack": {
        "en": "ACK(Ack={ack}): the {who} acknowledges the other side's FIN; once its own FIN "
              "is acknowledged too it waits in TIME_WAIT (2 MSL). In a simultaneous close "
              "both sides wait.",
        "zh": "ACK(Ack={ack}): {who}确认对方的 FIN; 自己的 FIN 也被确认后进入 TIME_WAIT "
              "(2MSL)。同时关闭时双方都要等待。",
    },
    "n_last_ack": {
        "en": "ACK(Ack=w+1): {ack} = w+1. The {who} closed first and now waits in "
              "TIME_WAIT (2 MSL).",
        "zh": "ACK(Ack=w+1): {ack} = w+1。{who}先关闭, 现在进入 TIME_WAIT 等待 2MSL。",
    },
    "n_rst_syn": {
        "en": "RST in answer to the SYN: nothing listens on port {port}; "
              "the connection is refused.",
        "zh": "用 RST 回应 SYN: 端口 {port} 上没有程序在监听, 连接被拒绝。",
    },
    "n_rst": {
        "en": "RST: the {who} aborts the connection at once; no FIN exchange, unread data is lost.",
        "zh": "RST: {who}立即中止连接; 没有 FIN 交换, 未读的数据会丢失。",
    },
    "n_analysis": {"en": "tshark would flag this: {flags}.", "zh": "tshark 会标记: {flags}。"},
    "n_syn_retx": {
        "en": "The SYN was not answered, so the client sent it again with the same ISN "
              "({gap} ms after the previous one: the retransmission timer backs off).",
        "zh": "SYN 没有得到回应, 客户端用同一个 ISN 再发一次 "
              "(距上一次 {gap} 毫秒: 重传计时器退避)。",
    },
    # what tshark's analysis flags mean
    "a_retransmission": {
        "en": "Retransmission: these bytes were sent before and not acknowledged in time, "
              "so the sender's retransmission timer (RTO) fired.",
        "zh": "重传: 这些字节以前发过, 但没有及时得到确认, 发送方的重传计时器 (RTO) 超时了。",
    },
    "a_fast_retransmission": {
        "en": "Fast retransmission: sent again at once because duplicate ACKs kept asking for "
              "byte {seq} (RFC 5681 §3.2), without waiting for the timer.",
        "zh": "快速重传: 重复的 ACK 一直在要第 {seq} 字节, "
              "发送方不等计时器就立即重发 (RFC 5681 §3.2)。",
    },
    "a_spurious_retransmission": {
        "en": "Spurious retransmission: the receiver had already acknowledged these bytes; "
              "the copy was not needed.",
        "zh": "多余的重传: 接收方早已确认过这些字节, 这次重发没有必要。",
    },
    "a_out_of_order": {
        "en": "Out of order: this segment fills a hole behind data that arrived first.",
        "zh": "乱序: 这个报文段填补了前面的空缺, 后面的数据先到了。",
    },
    "a_lost_segment": {
        "en": "Previous segment not captured: Seq jumps past bytes this capture never saw "
              "(lost on the way, or missed by the capture).",
        "zh": "前一个报文段没有抓到: Seq 跳过了抓包中没有出现的字节 (路上丢了, 或者抓包漏掉了)。",
    },
    "a_ack_lost_segment": {
        "en": "ACKed unseen segment: this acknowledges bytes the capture never showed.",
        "zh": "确认了没看到的报文段: 这个 ACK 确认了抓包里没有出现过的字节。",
    },
    "a_duplicate_ack": {
        "en": "Duplicate ACK #{n}: the same Ack={ack} again; the receiver still waits for byte "
              "{ack} while later data arrives.",
        "zh": "重复确认 #{n}: 又一次 Ack={ack}; 接收方还在等第 {ack} 字节, 后面的数据却先到了。",
    },
    "a_zero_window": {
        "en": "Zero window: the receiver's buffer is full; the sender has to stop.",
        "zh": "零窗口: 接收方的缓冲区满了, 发送方必须停下来。",
    },
    "a_zero_window_probe": {
        "en": "Zero-window probe: one byte sent to ask whether the window has opened.",
        "zh": "零窗口探测: 发一个字节, 问接收窗口是否打开了。",
    },
    "a_zero_window_probe_ack": {
        "en": "The answer to a zero-window probe.", "zh": "对零窗口探测的回应。",
    },
    "a_keep_alive": {
        "en": "Keep-alive: an empty probe one byte before the next Seq, to check that the "
              "peer is still there.",
        "zh": "保活: 在下一个 Seq 前一个字节处发一个空探测, 确认对方还在。",
    },
    "a_keep_alive_ack": {"en": "The answer to a keep-alive.", "zh": "对保活探测的回应。"},
    "a_window_update": {
        "en": "Window update: only the advertised receive window changed.",
        "zh": "窗口更新: 只有通告的接收窗口变了。",
    },
    "a_window_full": {
        "en": "Window full: this segment fills the receiver's advertised window.",
        "zh": "窗口已满: 这个报文段填满了接收方通告的窗口。",
    },
    "a_reused_ports": {
        "en": "Port numbers reused: a new connection on a four-tuple that was used before.",
        "zh": "端口重用: 在用过的四元组上开始了一个新连接。",
    },
    # TLS messages on the ladder
    "tls_client_hello": {
        "en": "Client Hello: the client's TLS versions, cipher suites, random and extensions{sni}.",
        "zh": "Client Hello: 客户端提出它支持的 TLS 版本、密码套件、随机数和扩展{sni}。",
    },
    "tls_server_hello": {
        "en": "Server Hello: the server chooses {version} and {suite}, and sends its random.",
        "zh": "Server Hello: 服务器选定 {version} 和 {suite}, 并发送它的随机数。",
    },
    "tls_hello_retry_request": {
        "en": "Hello Retry Request: the server wants a key share on {group}; the client must "
              "send a new Client Hello.",
        "zh": "Hello Retry Request: 服务器要求用 {group} 的密钥共享, "
              "客户端必须重新发送 Client Hello。",
    },
    "tls_certificate": {
        "en": "Certificate: the server's certificate chain; the client checks it "
              "(signature, validity, name).",
        "zh": "Certificate: 服务器的证书链; 客户端校验它 (签名、有效期、域名)。",
    },
    "tls_server_key_exchange_ecdhe": {
        "en": "Server Key Exchange: the curve {group} and the server's fresh public key, "
              "signed with its certificate's key.",
        "zh": "Server Key Exchange: 曲线 {group} 和服务器临时生成的公钥, 用证书的私钥签名。",
    },
    "tls_server_key_exchange_dhe": {
        "en": "Server Key Exchange: DH parameters p and g and the server's fresh public value Ys, "
              "signed with its certificate's key.",
        "zh": "Server Key Exchange: DH 参数 p、g 和服务器临时生成的公钥 Ys, 用证书的私钥签名。",
    },
    "tls_server_hello_done": {
        "en": "Server Hello Done: the server has said all it will say; the client's turn.",
        "zh": "Server Hello Done: 服务器的消息发完了, 轮到客户端。",
    },
    "tls_client_key_exchange_rsa": {
        "en": "Client Key Exchange: the pre-master secret, encrypted with the server's RSA "
              "public key. Whoever has the server's private key, now or later, can decrypt "
              "this session.",
        "zh": "Client Key Exchange: 用服务器的 RSA 公钥加密的预主密钥 (pre-master)。"
              "谁拿到服务器的私钥, 现在或以后, 都能解密这个会话。",
    },
    "tls_client_key_exchange_ecdhe": {
        "en": "Client Key Exchange: the client's fresh public key on {group}. Both sides now "
              "compute the same secret; nothing secret travels.",
        "zh": "Client Key Exchange: 客户端在 {group} 上临时生成的公钥。双方各自算出同一个密钥, "
              "线路上没有传送任何秘密。",
    },
    "tls_client_key_exchange_dhe": {
        "en": "Client Key Exchange: the client's fresh DH public value Yc. Both sides compute "
              "the same secret; nothing secret travels.",
        "zh": "Client Key Exchange: 客户端临时生成的 DH 公钥 Yc。双方各自算出同一个密钥, "
              "线路上没有传送任何秘密。",
    },
    "tls_change_cipher_spec": {
        "en": "Change Cipher Spec: from here on this side encrypts.",
        "zh": "Change Cipher Spec: 从这里开始, 这一方的数据都加密。",
    },
    "tls_finished": {
        "en": "Finished — encrypted: a MAC over the whole handshake, proving nobody changed it.",
        "zh": "Finished (已加密): 对整个握手过程的校验, 证明握手没有被篡改。",
    },
    "tls_encrypted_handshake": {
        "en": "Encrypted handshake: Encrypted Extensions, Certificate, Certificate Verify, "
              "Finished — TLS 1.3 encrypts everything after Server Hello.",
        "zh": "加密的握手消息: Encrypted Extensions、Certificate、Certificate Verify、Finished —"
              " TLS 1.3 在 Server Hello 之后的内容全部加密。",
    },
    "tls_new_session_ticket": {
        "en": "New Session Ticket: a ticket the client can use to resume later.",
        "zh": "New Session Ticket: 客户端以后可以用来恢复会话的票据。",
    },
    "tls_certificate_request": {
        "en": "Certificate Request: the server asks the client for a certificate.",
        "zh": "Certificate Request: 服务器要求客户端提供证书。",
    },
    "tls_certificate_verify": {
        "en": "Certificate Verify: a signature proving the sender holds the certificate's key.",
        "zh": "Certificate Verify: 一个签名, 证明发送方持有证书的私钥。",
    },
    "tls_application_data": {
        "en": "Application data — encrypted.", "zh": "应用数据 (已加密)。",
    },
    "tls_alert": {"en": "Alert: {name}.", "zh": "告警: {name}。"},
    "tls_other": {"en": "{name}.", "zh": "{name}。"},
    "tls_verify": {
        "en": "Certificate check, redone offline: {summary}",
        "zh": "证书校验 (离线重做): {summary}",
    },
    # words
    "client": {"en": "client", "zh": "客户端"},
    "server": {"en": "server", "zh": "服务器"},
    "time": {"en": "time", "zh": "时间"},
    "relative": {"en": "relative", "zh": "相对"},
    "absolute": {"en": "absolute", "zh": "绝对"},
    "role_guess": {"en": "roles guessed: {why}", "zh": "角色是推测的: {why}"},
    "stream_title": {
        "en": "TCP stream {stream}: {client} → {server}",
        "zh": "TCP 流 {stream}: {client} → {server}",
    },
    "time_col": {"en": "time (s)  frame", "zh": "时间 (秒)  帧"},
    "by_who": {"en": " by {who}", "zh": " ({who})"},
    "analyze_title": {"en": "{path}: {frames} frames, {tcp} TCP and {udp} UDP conversations",
                      "zh": "{path}: {frames} 帧, {tcp} 个 TCP 连接, {udp} 个 UDP 会话"},
    "col_conn": {"en": "conn", "zh": "连接"},
    "col_endpoints": {"en": "client → server", "zh": "客户端 → 服务器"},
    "col_pkts": {"en": "pkts", "zh": "包数"},
    "col_bytes": {"en": "bytes c→s/s→c", "zh": "字节 c→s/s→c"},
    "col_handshake": {"en": "handshake", "zh": "握手"},
    "col_close": {"en": "close", "zh": "关闭"},
    "col_state": {"en": "state", "zh": "状态"},
    "col_history": {"en": "history", "zh": "历史"},
    "col_tls": {"en": "tls", "zh": "TLS"},
    "col_anomalies": {"en": "anomalies", "zh": "异常"},
    "phase_handshake": {"en": "three-way handshake", "zh": "三次握手"},
    "phase_tls": {"en": "TLS handshake", "zh": "TLS 握手"},
    "phase_data": {"en": "data", "zh": "数据"},
    "phase_close": {"en": "close", "zh": "关闭 (挥手)"},
    "phase_reset": {"en": "reset", "zh": "重置 (RST)"},
    "hs_state": {"en": "handshake: {state}", "zh": "握手: {state}"},
    "close_state": {"en": "close: {kind}", "zh": "关闭: {kind}"},
}

#: the words of the HTML report's page itself (handshaker report), in both languages
PAGE_WORDS: dict[str, dict[str, str]] = {
    "title": {"en": "handshaker report", "zh": "handshaker 报告"},
    "summary": {"en": "Capture", "zh": "抓包文件"},
    "frames": {"en": "frames", "zh": "帧"},
    "duration": {"en": "duration", "zh": "时长"},
    "connections": {"en": "Connections", "zh": "连接"},
    "filter_proto": {"en": "protocol", "zh": "协议"},
    "filter_state": {"en": "state", "zh": "状态"},
    "filter_version": {"en": "TLS version", "zh": "TLS 版本"},
    "filter_kx": {"en": "key exchange", "zh": "密钥交换"},
    "filter_sni": {"en": "SNI contains", "zh": "SNI 包含"},
    "all": {"en": "all", "zh": "全部"},
    "shown": {"en": "shown", "zh": "显示"},
    "col_stream": {"en": "#", "zh": "#"},
    "col_proto": {"en": "proto", "zh": "协议"},
    "col_client": {"en": "client", "zh": "客户端"},
    "col_server": {"en": "server", "zh": "服务器"},
    "col_packets": {"en": "packets", "zh": "包数"},
    "col_bytes": {"en": "bytes c→s / s→c", "zh": "字节 c→s / s→c"},
    "col_handshake": {"en": "handshake", "zh": "握手"},
    "col_close": {"en": "close", "zh": "关闭"},
    "col_state": {"en": "state", "zh": "状态"},
    "col_tls": {"en": "TLS", "zh": "TLS"},
    "col_kx": {"en": "key exchange", "zh": "密钥交换"},
    "col_sni": {"en": "SNI", "zh": "SNI"},
    "relative": {"en": "Seq/Ack: relative", "zh": "Seq/Ack: 相对"},
    "absolute": {"en": "Seq/Ack: absolute", "zh": "Seq/Ack: 绝对"},
    "language": {"en": "中文", "zh": "English"},
    "pick": {"en": "Click a connection in the table to see its ladder.",
             "zh": "点击表格中的连接, 查看它的梯形图。"},
    "pick_arrow": {"en": "Click an arrow to see that packet.",
                   "zh": "点击箭头, 查看那个数据包。"},
    "no_ladder": {"en": "No ladder for this connection (UDP, or over the report's limit).",
                  "zh": "这个连接没有梯形图 (UDP, 或超出报告的上限)。"},
    "frame": {"en": "Frame", "zh": "帧"},
    "layers": {"en": "Layers", "zh": "分层"},
    "tcpip": {"en": "TCP/IP layer", "zh": "TCP/IP 层"},
    "osi": {"en": "OSI layer", "zh": "OSI 层"},
    "fields": {"en": "Fields", "zh": "字段"},
    "tls_messages": {"en": "TLS", "zh": "TLS"},
    "hex": {"en": "Bytes", "zh": "字节"},
    "no_detail": {"en": "Packet details are not in the report (over its limit).",
                  "zh": "报告里没有这个包的详细内容 (超出上限)。"},
    "states": {"en": "states after it", "zh": "之后的状态"},
    "limit": {"en": "Limits reached: {what}", "zh": "达到上限: {what}"},
    "decrypted": {"en": "decrypted", "zh": "已解密"},
    "f_versions": {"en": "versions", "zh": "版本"},
    "f_suites": {"en": "cipher suites", "zh": "密码套件"},
    "f_groups": {"en": "groups", "zh": "曲线/群"},
    "f_sigalgs": {"en": "signature algorithms", "zh": "签名算法"},
    "f_version": {"en": "version", "zh": "版本"},
    "f_suite": {"en": "cipher suite", "zh": "密码套件"},
    "f_kx": {"en": "key exchange", "zh": "密钥交换"},
    "f_group": {"en": "group", "zh": "曲线/群"},
    "f_fs": {"en": "forward secrecy", "zh": "前向保密"},
    "f_resumed": {"en": "resumed", "zh": "会话恢复"},
    "f_cert": {"en": "certificate", "zh": "证书"},
}

def say(catalogue: dict[str, dict[str, str]], key: str, lang: str = "en", **kw: object) -> str:
    """The text ``key`` of a catalogue in ``lang`` (English when it has no such text),
    formatted with ``kw``."""
    entry = catalogue[key]
    return (entry.get(lang) or entry["en"]).format(**kw)


#: the words of the tls command's view (render/tls_text.py), in both languages
TLS_WORDS: dict[str, dict[str, str]] = {
    "title": {"en": "TLS on TCP stream {stream}: {client} → {server}",
              "zh": "TCP 流 {stream} 上的 TLS: {client} → {server}"},
    "version": {"en": "version", "zh": "版本"},
    "suite": {"en": "cipher suite", "zh": "密码套件"},
    "kx": {"en": "key exchange", "zh": "密钥交换"},
    "fs_yes": {"en": "forward secrecy", "zh": "前向保密"},
    "fs_no": {"en": "NO forward secrecy", "zh": "没有前向保密"},
    "group": {"en": "group", "zh": "曲线/群"},
    "alpn": {"en": "offered {offered}; selected {selected}",
             "zh": "提供 {offered}; 选中 {selected}"},
    "alpn_hidden": {"en": "(not seen: encrypted in TLS 1.3)",
                    "zh": "(看不到: TLS 1.3 中已加密)"},
    "resumed": {"en": "resumed", "zh": "会话恢复"},
    "resumed_by": {"en": "yes, by {how}", "zh": "是, 通过 {how}"},
    "hrr": {"en": "the server asked for {group}", "zh": "服务器要求使用 {group}"},
    "client_cert": {"en": "client certificate", "zh": "客户端证书"},
    "sent": {"en": "sent", "zh": "已发送"},
    "alert": {"en": "alert", "zh": "告警"},
    "close": {"en": "close", "zh": "关闭"},
    "timing": {"en": "timing (ms)", "zh": "时间 (毫秒)"},
    "col_frame": {"en": "frame", "zh": "帧"},
    "col_dir": {"en": "dir", "zh": "方向"},
    "col_message": {"en": "message", "zh": "消息"},
    "col_bytes": {"en": "bytes", "zh": "字节"},
    "decrypted_mark": {"en": "decrypted", "zh": "已解密"},
    "encrypted_mark": {"en": "encrypted", "zh": "已加密"},
    "cert": {"en": "certificate", "zh": "证书"},
    "cert_line": {"en": "    issuer {issuer}; key {pubkey}; {sig}; SANs {sans}",
                  "zh": "    签发者 {issuer}; 公钥 {pubkey}; {sig}; SAN {sans} 个"},
    "cert_check": {"en": "certificate check", "zh": "证书校验"},
    "offered_title": {"en": "offered by the client (the server's choice marked ✓)",
                      "zh": "客户端提供的 (服务器的选择标 ✓)"},
    "col_what": {"en": "what", "zh": "项目"},
    "col_offered": {"en": "offered", "zh": "提供"},
    "note": {"en": "note", "zh": "注意"},
    "client": {"en": "client", "zh": "客户端"},
    "server": {"en": "server", "zh": "服务器"},
    "decrypted": {"en": "decrypted", "zh": "解密"},
    "decrypted_yes": {"en": "yes, with {source}: {records} records; Finished verified: {who}",
                      "zh": "是, 用 {source}: {records} 个记录; Finished 校验通过: {who}"},
    "decrypted_no": {"en": "no: {reason}", "zh": "否: {reason}"},
    "keys_title": {"en": "how the keys were derived (--explain-keys: these are secrets)",
                   "zh": "密钥是怎样推导出来的 (--explain-keys: 以下是机密)"},
    "col_step": {"en": "step", "zh": "步骤"},
    "col_value": {"en": "value", "zh": "值"},
    "col_meaning": {"en": "what it is", "zh": "含义"},
    "no_data": {"en": "  (no decrypted application data)", "zh": "  (没有解密出的应用数据)"},
    "nothing_decrypted": {"en": "  (nothing decrypted)", "zh": "  (没有解密任何内容)"},
    "c2s": {"en": "client → server", "zh": "客户端 → 服务器"},
    "s2c": {"en": "server → client", "zh": "服务器 → 客户端"},
    "chunk": {"en": "── frame {frame}, {arrow}, {n} bytes",
              "zh": "── 帧 {frame}, {arrow}, {n} 字节"},
}


def tls_word(key: str, lang: str = "en", **kw: object) -> str:
    """A word of the tls command's view in ``lang``, formatted with ``kw``."""
    return say(TLS_WORDS, key, lang, **kw)


#: the steps of the certificate check (tls/certs.py), in both languages
CERT_CHECKS: dict[str, dict[str, str]] = {
    "h_no_sni": {"en": "not checked: the client sent no server name (SNI)",
                 "zh": "没有检查: 客户端没有发送服务器名称 (SNI)"},
    "h_ip_ok": {"en": "{host} is one of the leaf's IP addresses",
                "zh": "{host} 是叶子证书的 IP 地址之一"},
    "h_ip_bad": {"en": "{host} is not among the leaf's IP address SANs ({have})",
                 "zh": "{host} 不在叶子证书的 IP 地址 SAN 中 ({have})"},
    "h_no_dns": {"en": "the leaf has no DNS names in subjectAltName, so {host} cannot match "
                       "(the old commonName fallback, CN={cn}, is obsolete)",
                 "zh": "叶子证书的 subjectAltName 里没有 DNS 名称, 所以 {host} 无法匹配 "
                       "(旧的 commonName 回退 CN={cn} 已被废弃)"},
    "h_ok": {"en": "{host} matches {pattern}", "zh": "{host} 匹配 {pattern}"},
    "h_ok_wild": {"en": "{host} matches the wildcard {pattern}",
                  "zh": "{host} 匹配通配符 {pattern}"},
    "h_bad": {"en": "{host} matches none of the leaf's names: {shown}",
              "zh": "{host} 不匹配叶子证书的任何名称: {shown}"},
    "h_wild_hint": {"en": " (a wildcard stands for exactly one left-most label)",
                    "zh": " (通配符只代表最左边的一个标签)"},
    "o_one": {"en": "one certificate: nothing to order", "zh": "只有一张证书: 不需要排序"},
    "o_swapped": {"en": "out of order: certificate {i} ({label}) was issued by certificate {j} "
                        "({jlabel}), but certificate {k} ({klabel}) follows it; each "
                        "certificate must be followed by its issuer (RFC 5246 §7.4.2)",
                  "zh": "顺序不对: 证书 {i} ({label}) 由证书 {j} ({jlabel}) 签发, 但它后面是"
                        "证书 {k} ({klabel}); 每张证书后面必须是它的签发者 (RFC 5246 §7.4.2)"},
    "o_issuer": {"en": "certificate {i} ({label}) names issuer {issuer}, but the next "
                       "certificate is {next}",
                 "zh": "证书 {i} ({label}) 的签发者是 {issuer}, 但下一张证书是 {next}"},
    "o_ok": {"en": "each certificate is followed by its issuer: {chain}",
             "zh": "每张证书后面都跟着它的签发者: {chain}"},
    "s_bad": {"en": "the signature on certificate {i} ({label}) does not verify with the "
                    "public key of its issuer, certificate {j} ({jlabel}): it was signed by "
                    "another key",
              "zh": "证书 {i} ({label}) 上的签名用它的签发者 (证书 {j}, {jlabel}) 的公钥校验"
                    "不通过: 它是用别的密钥签的"},
    "s_err": {"en": "cannot verify certificate {i} ({label}) with certificate {j}: {err}",
              "zh": "无法用证书 {j} 校验证书 {i} ({label}): {err}"},
    "s_none": {"en": "no certificate in the chain is issued by another one in it: nothing to "
                     "verify here",
               "zh": "链中没有哪张证书是由链中另一张签发的: 这里没有要校验的签名"},
    "s_ok": {"en": "{n} signature(s) verified with the issuer's key",
             "zh": "{n} 个签名用签发者的公钥校验通过"},
    "v_expired": {"en": "certificate {i} ({label}) expired on {until}; the packet is from "
                        "{when}",
                  "zh": "证书 {i} ({label}) 已于 {until} 过期; 这个数据包的时间是 {when}"},
    "v_early": {"en": "certificate {i} ({label}) is not valid before {since}; the packet is "
                      "from {when}",
                "zh": "证书 {i} ({label}) 在 {since} 之前无效; 这个数据包的时间是 {when}"},
    "v_ok": {"en": "all {n} valid at {when} (the first to expire, {label}, is good until "
                   "{until})",
             "zh": "{n} 张证书在 {when} 时都有效 (最早过期的是 {label}, 有效期到 {until})"},
    "a_no_store": {"en": "no trusted CAs to check against: {why}",
                   "zh": "没有可以对照的受信任 CA: {why}"},
    "a_in_store": {"en": "the chain ends in {label}, which is in the trust store ({where})",
                   "zh": "证书链以 {label} 结束, 它在信任库里 ({where})"},
    "a_signed": {"en": "{label} is signed by {ca}, a trusted CA ({where})",
                 "zh": "{label} 由受信任的 CA {ca} 签发 ({where})"},
    "a_self": {"en": "the chain ends in a self-signed certificate ({label}) that is not in the "
                     "trust store ({where})",
               "zh": "证书链以一张自签名证书 ({label}) 结束, 它不在信任库里 ({where})"},
    "a_unknown": {"en": "{label} was issued by {issuer}, which is neither in the chain nor in "
                        "the trust store ({where}): an unknown issuer, or a missing "
                        "intermediate certificate",
                  "zh": "{label} 由 {issuer} 签发, 它既不在链中也不在信任库里 ({where}): "
                        "未知的签发者, 或者缺少中间证书"},
    "p_no_sni": {"en": "not checked: the library's server check needs a server name",
                 "zh": "没有检查: 库的服务器校验需要服务器名称"},
    "p_no_store": {"en": "not checked: no trusted CAs", "zh": "没有检查: 没有受信任的 CA"},
    "p_bad": {"en": "cryptography's RFC 5280 / Web PKI check: {err}",
              "zh": "cryptography 的 RFC 5280 / Web PKI 校验: {err}"},
    "p_ok": {"en": "cryptography built a valid path of {n} certificates to a trusted root",
             "zh": "cryptography 构建出一条到受信任根证书的有效路径, 共 {n} 张证书"},
    "parse_none": {"en": "the server sent no certificate", "zh": "服务器没有发送证书"},
    "parse_bad": {"en": "certificate {i}: {err}", "zh": "证书 {i}: {err}"},
    "summary_ok": {"en": "certificate chain accepted: {checks}", "zh": "证书链被接受: {checks}"},
    "summary_bad": {"en": "certificate chain rejected: {step}: {reason}",
                    "zh": "证书链被拒绝: {step}: {reason}"},
    "summary_more": {"en": " (and {n} more)", "zh": " (另有 {n} 项)"},
}


def cert_text(key: str, lang: str = "en", **kw: object) -> str:
    """A step of the certificate check, in ``lang``."""
    return say(CERT_CHECKS, key, lang, **kw)


#: why a session has forward secrecy or not (tls/observer.py), in both languages
FS_REASONS: dict[str, dict[str, str]] = {
    "psk_ke": {"en": "TLS 1.3 PSK-only resumption (psk_ke): the keys come from the earlier "
                     "session's secret alone",
               "zh": "TLS 1.3 仅用 PSK 恢复会话 (psk_ke): 密钥只来自上一个会话的秘密"},
    "tls13": {"en": "TLS 1.3: every handshake makes fresh {dh} keys, so no long-term key can "
                    "decrypt it later",
              "zh": "TLS 1.3: 每次握手都生成新的 {dh} 密钥, 以后拿到任何长期私钥都解不开它"},
    "rsa": {"en": "RSA key exchange: the pre-master secret travels encrypted with the server's "
                  "RSA key, so whoever gets that key later can decrypt this session",
            "zh": "RSA 密钥交换: 预主密钥用服务器的 RSA 公钥加密后在网络上传输, "
                  "以后谁拿到这把私钥, 谁就能解密这个会话"},
    "fresh": {"en": "{kx}: both sides make fresh keys and compute the secret; nothing secret "
                    "travels",
              "zh": "{kx}: 双方都生成新的密钥并各自算出秘密; 没有任何秘密在网络上传输"},
    "static": {"en": "{kx} key exchange: no fresh keys", "zh": "{kx} 密钥交换: 没有新生成的密钥"},
    "sslv2": {"en": "SSL 2.0: the master key travels encrypted with the server's RSA key, so "
                    "whoever gets that key later can decrypt this session",
              "zh": "SSL 2.0: 主密钥用服务器的 RSA 公钥加密后传输, "
                    "以后谁拿到这把私钥, 谁就能解密这个会话"},
}


def fs_text(key: str, lang: str = "en", **kw: object) -> str:
    """Why a session has forward secrecy or not, in ``lang``."""
    return say(FS_REASONS, key, lang, **kw)


#: why a session was not (or not wholly) decrypted, and the steps of --explain-keys: the
#: parts tls/opener.py puts together
DECRYPT_REASONS: dict[str, dict[str, str]] = {
    "record_bad": {
        "en": "the {who}'s record at stream offset {offset} does not decrypt ({detail}): the "
              "keys are not this session's, or the record is damaged",
        "zh": "{who}在流偏移 {offset} 处的记录解不开 ({detail}): 密钥不属于这个会话, "
              "或者记录已损坏"},
    "no_app_secret": {
        "en": "the key log has no {label} for this session: what the {who} sent after its "
              "Finished stays encrypted",
        "zh": "密钥日志里没有这个会话的 {label}: {who}在 Finished 之后发送的内容仍然是加密的"},
    "finished_bad": {
        "en": "the {who}'s Finished does not verify with the secret from {source}: that "
              "secret is not this session's",
        "zh": "用 {source} 中的密钥, {who}的 Finished 校验不通过: 这个密钥不属于这个会话"},
    "finished_missing": {
        "en": "the {who}'s Finished is not in the capture: only the other side's checked",
        "zh": "抓包里没有{who}的 Finished: 只校验了另一方的"},
    "version": {"en": "{version} is not decrypted (SSL 3.0 to TLS 1.3 are)",
                "zh": "不解密 {version} (支持的是 SSL 3.0 到 TLS 1.3)"},
    "suite_unknown": {"en": "cipher suite 0x{code} is not known", "zh": "未知的密码套件 0x{code}"},
    "sh_bad": {"en": "the ServerHello does not parse", "zh": "ServerHello 无法解析"},
    "rsa_bad": {
        "en": "the RSA key {source} does not decrypt the pre-master secret: the key does not "
              "match",
        "zh": "RSA 私钥 {source} 解不开预主密钥: 这把私钥不匹配"},
    "no_cert": {
        "en": "the server's certificate is not in the capture, so no RSA key can be matched "
              "to this session",
        "zh": "抓包里没有服务器的证书, 无法为这个会话匹配 RSA 私钥"},
    "key_mismatch": {
        "en": "the RSA key(s) given ({names}) do not match this server's certificate (another "
              "public key)",
        "zh": "给出的 RSA 私钥 ({names}) 与这个服务器的证书不匹配 (公钥不同)"},
    "unsupported": {"en": "{detail}", "zh": "不支持解密: {detail}"},
    "no_handshake": {
        "en": "the capture begins after the handshake: without the ClientHello's random no "
              "key can be looked up, and without the ServerHello the cipher is unknown",
        "zh": "抓包在握手之后才开始: 没有 ClientHello 的随机数就无法查找密钥, 没有 ServerHello "
              "就不知道加密算法"},
    "no_server_hello": {
        "en": "the capture has no ServerHello for this session: the cipher is unknown",
        "zh": "抓包里没有这个会话的 ServerHello: 不知道加密算法"},
    "tls13_partial": {
        "en": "the key log has secrets for this client random but not the handshake traffic "
              "secrets TLS 1.3 needs",
        "zh": "密钥日志里有这个客户端随机数的密钥, 但没有 TLS 1.3 需要的握手流量密钥"},
    "tls13_fs": {
        "en": "TLS 1.3: the keys come from a fresh (EC)DHE shared secret that is in no packet, "
              "so only a key log opens it, and ",
        "zh": "TLS 1.3: 密钥来自每次新生成的 (EC)DHE 共享密钥, 它不在任何数据包里, "
              "所以只有密钥日志能解开, 而"},
    "tls13_no_secrets": {"en": "it has no secrets for client random {rnd}…",
                         "zh": "密钥日志里没有客户端随机数 {rnd}… 的密钥"},
    "none_given": {"en": "none was given", "zh": "没有给出密钥日志"},
    "rsa_cannot": {"en": " (an RSA key cannot: forward secrecy)",
                   "zh": " (RSA 私钥做不到: 前向保密)"},
    "resumed": {
        "en": "a resumed session: its master secret comes from an earlier session that is "
              "not in this capture or was not decrypted, and ",
        "zh": "这是恢复的会话: 它的主密钥来自更早的会话, 而那个会话不在这个抓包里或没有解开; "
              "而且"},
    "no_line": {"en": "the key log has no CLIENT_RANDOM line for client random {rnd}…",
                "zh": "密钥日志里没有客户端随机数 {rnd}… 的 CLIENT_RANDOM 行"},
    "no_keylog": {"en": "no key log was given", "zh": "没有给出密钥日志"},
    "and_no_rsa_key": {"en": ", and no RSA key of the server was given",
                       "zh": ", 也没有给出服务器的 RSA 私钥"},
    "and_no_cke": {"en": ", and no ClientKeyExchange was seen",
                   "zh": ", 也没有看到 ClientKeyExchange"},
    "eph_fs": {
        "en": "{kx} key exchange: the pre-master secret is computed by both sides from fresh "
              "keys and never travels, so only a key log opens it, and ",
        "zh": "{kx} 密钥交换: 预主密钥由双方用新生成的密钥各自算出, 从不在网络上传输, "
              "所以只有密钥日志能解开, 而"},
    "rsa_signs": {
        "en": "; the server's RSA key only signs this handshake and cannot decrypt it "
              "(forward secrecy)",
        "zh": "; 服务器的 RSA 私钥在这里只用来签名, 解不开它 (前向保密)"},
    # --explain-keys: names, values and meanings of the steps
    "n_client_random": {"en": "client random", "zh": "客户端随机数"},
    "n_server_random": {"en": "server random", "zh": "服务器随机数"},
    "n_enc_pms": {"en": "encrypted pre-master secret", "zh": "加密的预主密钥"},
    "n_pms": {"en": "pre-master secret", "zh": "预主密钥"},
    "n_master": {"en": "master secret", "zh": "主密钥"},
    "n_key_block": {"en": "key block", "zh": "密钥块"},
    "n_mac_key": {"en": "{who} MAC key", "zh": "{who} MAC 密钥"},
    "n_write_key": {"en": "{who} write key", "zh": "{who}写密钥"},
    "n_iv": {"en": "{who} IV", "zh": "{who} IV"},
    "n_rsa_key": {"en": "server's RSA key", "zh": "服务器的 RSA 私钥"},
    "n_early": {"en": "early secret", "zh": "早期秘密 (early secret)"},
    "n_ecdhe": {"en": "(EC)DHE shared secret", "zh": "(EC)DHE 共享秘密"},
    "n_hs_secret": {"en": "handshake secret", "zh": "握手秘密 (handshake secret)"},
    "n_c_early": {"en": "client early traffic secret", "zh": "客户端早期流量秘密"},
    "n_hs_traffic": {"en": "{who} handshake traffic secret", "zh": "{who}握手流量秘密"},
    "n_ap_traffic": {"en": "{who} application traffic secret", "zh": "{who}应用流量秘密"},
    "v_none": {"en": "not in any packet", "zh": "不在任何数据包里"},
    "v_unused": {"en": "given, not used", "zh": "给出了, 但用不上"},
    "v_not_logged": {"en": "not in the key log", "zh": "密钥日志里没有"},
    "v_psk": {"en": "from the resumption PSK: not in any packet",
              "zh": "来自恢复会话的 PSK: 不在任何数据包里"},
    "m_client_random": {"en": "32 bytes the client chose, sent in the clear in its ClientHello",
                        "zh": "客户端选的 32 字节, 在 ClientHello 里明文发送"},
    "m_server_random": {"en": "32 bytes the server chose, sent in the clear in its ServerHello",
                        "zh": "服务器选的 32 字节, 在 ServerHello 里明文发送"},
    "m_enc_pms": {"en": "the ClientKeyExchange: the pre-master secret encrypted with the "
                        "public key in the server's certificate",
                  "zh": "ClientKeyExchange: 用服务器证书里的公钥加密的预主密钥"},
    "m_pms": {"en": "48 bytes the client chose (2 bytes of version, 46 random), decrypted "
                    "with the server's private key",
              "zh": "客户端选的 48 字节 (2 字节版本号, 46 字节随机数), 用服务器的私钥解密得到"},
    "m_master_keylog": {"en": "48 bytes: from the key log's CLIENT_RANDOM line for this "
                              "client random",
                        "zh": "48 字节: 来自密钥日志里这个客户端随机数的 CLIENT_RANDOM 行"},
    "m_master_resumed": {"en": "48 bytes: the master secret of the session this one resumes",
                         "zh": "48 字节: 被恢复的那个会话的主密钥"},
    "m_master_ssl3": {"en": "48 bytes: SSL 3.0's MD5/SHA-1 expansion of the pre-master "
                            "secret over both randoms",
                      "zh": "48 字节: SSL 3.0 用 MD5/SHA-1 把预主密钥和两个随机数扩展而成"},
    "m_master_ems": {"en": "48 bytes: PRF(pre-master secret, \"extended master secret\", hash "
                           "of the handshake up to the ClientKeyExchange) (RFC 7627)",
                     "zh": "48 字节: PRF(预主密钥, \"extended master secret\", 到 "
                           "ClientKeyExchange 为止的握手消息哈希) (RFC 7627)"},
    "m_master_prf": {"en": "48 bytes: PRF(pre-master secret, \"master secret\", client random "
                           "+ server random)",
                     "zh": "48 字节: PRF(预主密钥, \"master secret\", 客户端随机数 + "
                           "服务器随机数)"},
    "m_key_block": {"en": "PRF(master secret, \"key expansion\", server random + client "
                          "random), cut in order into the pieces below",
                    "zh": "PRF(主密钥, \"key expansion\", 服务器随机数 + 客户端随机数), "
                          "按顺序切成下面几段"},
    "m_mac_key": {"en": "from the {origin}: authenticates the {who}'s records (HMAC)",
                  "zh": "来自{origin}: 认证{who}的记录 (HMAC)"},
    "m_write_key": {"en": "from the {origin}: encrypts what the {who} sends",
                    "zh": "来自{origin}: 加密{who}发送的内容"},
    "m_iv_gcm": {"en": "from the {origin}: the implicit 4 bytes of each record's nonce (the "
                       "other 8 travel in the record)",
                 "zh": "来自{origin}: 每个记录 nonce 中隐含的 4 字节 (另外 8 字节随记录传输)"},
    "m_iv_chacha": {"en": "from the {origin}: XORed with the record's sequence number, it is "
                          "the record's nonce (RFC 7905)",
                    "zh": "来自{origin}: 与记录序号异或, 就是这个记录的 nonce (RFC 7905)"},
    "m_iv_cbc": {"en": "from the {origin}: the CBC IV of the first record; each later one "
                       "chains from the record before (TLS 1.0)",
                 "zh": "来自{origin}: 第一个记录的 CBC IV; 之后每个记录的 IV 取自前一个记录 "
                       "(TLS 1.0)"},
    "m_iv_tls13": {"en": "from the {origin}: XORed with the record's sequence number, it is "
                         "the record's nonce (RFC 8446 §5.3)",
                   "zh": "来自{origin}: 与记录序号异或, 就是这个记录的 nonce (RFC 8446 §5.3)"},
    "m_no_pms": {"en": "{kx}: the client and the server each compute it from their own "
                       "private key and the other's public key (ServerKeyExchange, "
                       "ClientKeyExchange); an observer sees only the public keys",
                 "zh": "{kx}: 客户端和服务器各自用自己的私钥和对方的公钥算出它 "
                       "(ServerKeyExchange, ClientKeyExchange); 旁观者只能看到公钥"},
    "m_rsa_signs12": {"en": "in this key exchange it only signs the ServerKeyExchange: "
                            "nothing in the handshake is encrypted with it, so it opens "
                            "nothing (forward secrecy)",
                      "zh": "在这种密钥交换里它只给 ServerKeyExchange 签名: 握手中没有任何东西"
                            "用它加密, 所以它什么也解不开 (前向保密)"},
    "m_rsa_signs13": {"en": "in TLS 1.3 it only signs the handshake (CertificateVerify): no "
                            "secret is ever encrypted with it, so it opens nothing (forward "
                            "secrecy)",
                      "zh": "在 TLS 1.3 中它只给握手签名 (CertificateVerify): 没有任何秘密用它"
                            "加密, 所以它什么也解不开 (前向保密)"},
    "m_client_random13": {"en": "names the session in the key log; the TLS 1.3 key schedule "
                                "itself does not use it",
                          "zh": "在密钥日志里用来标识会话; TLS 1.3 的密钥推导本身不用它"},
    "m_early": {"en": "HKDF-Extract(0, PSK); with no PSK, of zeros: a constant anyone can "
                      "compute",
                "zh": "HKDF-Extract(0, PSK); 没有 PSK 时是全零: 任何人都能算出的常量"},
    "m_ecdhe13": {"en": "each side computes it from its own private key and the other's "
                        "key_share; an observer sees only the public keys",
                  "zh": "双方各自用自己的私钥和对方的 key_share 算出它; 旁观者只能看到公钥"},
    "m_hs_secret": {"en": "HKDF-Extract(Derive-Secret(early secret, \"derived\"), (EC)DHE "
                          "shared secret)",
                    "zh": "HKDF-Extract(Derive-Secret(早期秘密, \"derived\"), (EC)DHE 共享秘密)"},
    "m_master13": {"en": "HKDF-Extract(Derive-Secret(handshake secret, \"derived\"), 0)",
                   "zh": "HKDF-Extract(Derive-Secret(握手秘密, \"derived\"), 0)"},
    "m_c_early": {"en": "Derive-Secret(early secret, \"c e traffic\", ClientHello): 0-RTT data",
                  "zh": "Derive-Secret(早期秘密, \"c e traffic\", ClientHello): 0-RTT 数据"},
    "m_hs_traffic": {"en": "Derive-Secret(handshake secret, \"{label} hs traffic\", "
                           "ClientHello..ServerHello): the encrypted handshake",
                     "zh": "Derive-Secret(握手秘密, \"{label} hs traffic\", "
                           "ClientHello..ServerHello): 加密的握手"},
    "m_ap_traffic": {"en": "Derive-Secret(master secret, \"{label} ap traffic\", "
                           "ClientHello..server Finished): the application data",
                     "zh": "Derive-Secret(主密钥, \"{label} ap traffic\", "
                           "ClientHello..服务器 Finished): 应用数据"},
    "m_from_log": {"en": "; from the key log ({label})", "zh": "; 来自密钥日志 ({label})"},
}


#: the catalogues read with :func:`say` (CATALOG, read with :func:`t`, has its own rules):
#: each key in both languages, with the same placeholders (tests/test_i18n.py)
CATALOGUES = {"PAGE_WORDS": PAGE_WORDS, "TLS_WORDS": TLS_WORDS, "CERT_CHECKS": CERT_CHECKS,
              "FS_REASONS": FS_REASONS, "DECRYPT_REASONS": DECRYPT_REASONS}

#: names of handshake states and close kinds as shown to people
WORDS: dict[str, dict[str, str]] = {
    "complete": {"en": "complete three-way handshake", "zh": "完整的三次握手"},
    "simultaneous_open": {"en": "simultaneous open", "zh": "同时打开"},
    "syn_unanswered": {"en": "SYN unanswered", "zh": "SYN 没有回应"},
    "refused": {"en": "refused (SYN answered by RST)", "zh": "被拒绝 (SYN 收到 RST)"},
    "no_final_ack": {"en": "SYN+ACK without the final ACK", "zh": "SYN+ACK 之后没有第三次握手"},
    "syn_not_captured": {"en": "SYN not captured", "zh": "没有抓到 SYN"},
    "not_seen": {"en": "not seen (capture began mid-connection)",
                 "zh": "没有看到 (抓包开始时连接已建立)"},
    "four_way": {"en": "four-way close", "zh": "四次挥手"},
    "three_way": {"en": "three-segment close (FIN, FIN+ACK, ACK)",
                  "zh": "三个报文段的关闭 (FIN, FIN+ACK, ACK)"},
    "simultaneous": {"en": "simultaneous close", "zh": "同时关闭"},
    "half_closed": {"en": "half-closed (one FIN only)", "zh": "半关闭 (只有一个 FIN)"},
    "fin_unanswered": {"en": "FIN unanswered", "zh": "FIN 没有回应"},
    "reset": {"en": "reset (RST)", "zh": "重置 (RST)"},
    "none": {"en": "no close seen", "zh": "没有看到关闭"},
}


def word(name: str | None, lang: str = "en") -> str:
    """A state or kind name in ``lang`` (the name itself when unknown)."""
    if name is None:
        return "-"
    entry = WORDS.get(name)
    return (entry.get(lang) or entry["en"]) if entry else name


ZH_ORDINALS = {1: "一", 2: "二", 3: "三", 4: "四"}


def default_lang() -> str:
    """'zh' when the locale says Chinese, else 'en'."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        val = os.environ.get(var)
        if val:
            return "zh" if val.lower().startswith("zh") else "en"
    loc = locale.getlocale()[0] or ""
    return "zh" if loc.lower().startswith("zh") else "en"


def t(key: str, lang: str = "en", **kw: object) -> str:
    """The message ``key`` in ``lang``, formatted with ``kw``."""
    entry = CATALOG[key]
    text = entry.get(lang) or entry["en"]
    if "i" in kw and "i_zh" not in kw:
        kw["i_zh"] = ZH_ORDINALS.get(int(kw["i"]), str(kw["i"]))  # type: ignore[call-overload]
    return text.format(**kw)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
